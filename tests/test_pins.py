"""One list per pin: docker/images/official.env holds the official images' pins and docker/images/local.env
the registry-free names. The consumers that cannot read the lists are checked against them here, and no
other file repeats an official pin."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_ENV = ROOT / "docker" / "images" / "official.env"
LOCAL_ENV = ROOT / "docker" / "images" / "local.env"
COMPOSE = ROOT / "docker" / "compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# Files that may spell an official pin: the list itself and the consumers checked below; the generated
# benchmark page and its inputs quote what was measured.
MAY_SPELL_PINS = {
    "docker/images/official.env",
    "docker/compose.yml",
    "docker/Dockerfile",
    "docs/benchmarks.md",
}
MAY_SPELL_PREFIXES = ("bench/",)


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


OFFICIAL = env_file(OFFICIAL_ENV)


def pin_use(pin: str) -> re.Pattern:
    # The pin as a whole reference: not the tail of local/postgres:17, not the head of nginx:1.28.1.
    return re.compile(r"(?<![\w./-])" + re.escape(pin) + r"(?![\w.-])")


LOCAL = env_file(LOCAL_ENV)


def test_both_lists_name_the_same_stack_images():
    assert set(OFFICIAL) == {
        "PYTHON_IMAGE",
        "POSTGRES_IMAGE",
        "NGINX_IMAGE",
        "CERTBOT_IMAGE",
        "PROMETHEUS_IMAGE",
        "ALERTMANAGER_IMAGE",
        "NODE_EXPORTER_IMAGE",
        "POSTGRES_EXPORTER_IMAGE",
        "NGINX_EXPORTER_IMAGE",
    }
    assert set(OFFICIAL) <= set(LOCAL)


@pytest.mark.parametrize("key", sorted(set(OFFICIAL) - {"PYTHON_IMAGE"}))
def test_compose_defaults_are_the_official_pins(key):
    defaults = re.findall(r"\$\{" + key + r":-([^}]+)\}", COMPOSE.read_text(encoding="utf-8"))
    assert defaults == [OFFICIAL[key]]


def test_dockerfile_builds_on_the_official_python_image():
    assert f"ARG PYTHON_IMAGE={OFFICIAL['PYTHON_IMAGE']}\n" in DOCKERFILE.read_text(encoding="utf-8")


def test_no_other_file_repeats_an_official_pin():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    offenders = []
    for name in files:
        if name in MAY_SPELL_PINS or name.startswith(MAY_SPELL_PREFIXES) or name == "tests/test_pins.py":
            continue
        path = ROOT / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}: {pin}" for pin in OFFICIAL.values() if pin_use(pin).search(text)]
    assert offenders == []


def test_the_stack_roles_sizing_limits_are_the_compose_files_defaults():
    stack_vars = yaml.safe_load((ROOT / "ansible/roles/stack/vars/main.yml").read_text(encoding="utf-8"))
    compose = COMPOSE.read_text(encoding="utf-8")
    max_connections = re.search(r"max_connections=\$\{POSTGRES_MAX_CONNECTIONS:-(\d+)\}", compose)
    web_mem = re.search(r"mem_limit: \$\{WEB_MEM_LIMIT:-(\d+)m\}", compose)
    assert max_connections and web_mem
    assert stack_vars["_stack_postgres_max_connections"] == int(max_connections.group(1))
    assert stack_vars["_stack_web_mem_limit_mib"] == int(web_mem.group(1))
    # .env would override them without the checks knowing.
    env_template = (ROOT / "ansible/roles/stack/templates/compose.env.j2").read_text(encoding="utf-8")
    assert "POSTGRES_MAX_CONNECTIONS" not in env_template
    assert "WEB_MEM_LIMIT" not in env_template
