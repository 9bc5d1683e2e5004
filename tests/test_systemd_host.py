"""One definition of how a systemd test host runs: docker/images/systemd-host/run-options.yml.

Molecule's shared create playbook and the `make deploy` sandbox script both take every shared option from
that file and add only per-host values; nothing else in the repository restates them."""

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOST_DIR = ROOT / "docker" / "images" / "systemd-host"
CREATE = ROOT / "molecule" / "shared" / "create.yml"
DESTROY = ROOT / "molecule" / "shared" / "destroy.yml"
SANDBOX = ROOT / "scripts" / "sandbox-host.sh"
SCENARIOS = sorted(ROOT.glob("molecule/*/molecule.yml"))

# What a Molecule platform or the create task may set per host, or as Molecule's own bookkeeping.
PLATFORM_KEYS = {"name", "hostname", "published_ports", "networks", "groups"}
CREATE_PER_HOST = {
    "name",
    "hostname",
    "published_ports",
    "network_mode",
    "networks",
    "image",
    "pull",
    "labels",
    "log_driver",
    "state",
    "recreate",
    "container_default_behavior",
}


def _load_run_options_module():
    spec = importlib.util.spec_from_file_location("run_options", HOST_DIR / "run_options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_options = _load_run_options_module()
OPTIONS = run_options.load()


def _container_task(playbook: Path) -> dict:
    (play,) = yaml.safe_load(playbook.read_text())
    (task,) = [t for t in play["tasks"] if "community.docker.docker_container" in t]
    return task["community.docker.docker_container"]


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_sandbox_arguments_carry_every_run_option_then_the_image_and_its_command():
    args = run_options.docker_run_args(OPTIONS, "img:tag")
    assert _pairs(args, "--cap-add") == OPTIONS["capabilities"]
    assert _pairs(args, "--security-opt") == OPTIONS["security_opts"]
    assert _pairs(args, "--volume") == OPTIONS["volumes"]
    assert _pairs(args, "--tmpfs") == OPTIONS["tmpfs"]
    assert _pairs(args, "--cgroupns") == [OPTIONS["cgroupns_mode"]]
    assert args[-2:] == ["img:tag", OPTIONS["command"]]


def test_every_capability_but_sys_resource():
    # --privileged fails where CAP_SYS_RESOURCE is withheld: the list is everything else, once each.
    assert "SYS_RESOURCE" not in OPTIONS["capabilities"]
    assert len(set(OPTIONS["capabilities"])) == len(OPTIONS["capabilities"]) == 40


@pytest.mark.parametrize("extra", [{"devices": ["/dev/fuse"]}, {"privileged": True}])
def test_an_option_the_sandbox_cannot_translate_is_refused(extra):
    with pytest.raises(ValueError, match=next(iter(extra))):
        run_options.docker_run_args({**OPTIONS, **extra}, "img:tag")


def test_a_missing_option_is_refused():
    options = {k: v for k, v in OPTIONS.items() if k != "tmpfs"}
    with pytest.raises(ValueError, match="tmpfs"):
        run_options.docker_run_args(options, "img:tag")


def test_the_command_line_prints_one_argument_per_line():
    out = subprocess.run(
        ["python3", str(HOST_DIR / "run_options.py"), "img:tag"], check=True, capture_output=True, text=True
    ).stdout
    assert out.splitlines() == run_options.docker_run_args(OPTIONS, "img:tag")


def test_molecule_create_passes_every_run_option_from_the_file_and_no_other():
    args = _container_task(CREATE)
    shared = set(args) - CREATE_PER_HOST
    assert shared == set(OPTIONS)
    for key in OPTIONS:
        assert args[key] == f"{{{{ _systemd_host_run.{key} }}}}"
    assert "run-options.yml" in yaml.safe_load(CREATE.read_text())[0]["vars"]["_systemd_host_run"]


def test_molecule_destroy_removes_the_anonymous_volumes():
    assert _container_task(DESTROY)["keep_volumes"] is False


def test_the_image_is_the_local_image_list_entry():
    local_env = (ROOT / "docker" / "images" / "local.env").read_text()
    assert any(line.startswith("SYSTEMD_HOST_IMAGE=") for line in local_env.splitlines())
    assert "SYSTEMD_HOST_IMAGE" in yaml.safe_load(CREATE.read_text())[0]["vars"]["_systemd_host_image"]
    assert "SYSTEMD_HOST_IMAGE=" in SANDBOX.read_text()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.parent.name)
def test_every_scenario_names_only_its_hosts_and_uses_the_shared_playbooks(scenario):
    config = yaml.safe_load(scenario.read_text())
    for platform in config["platforms"]:
        assert set(platform) <= PLATFORM_KEYS, platform["name"]
    assert config["ansible"]["playbooks"]["create"] == "../shared/create.yml"
    assert config["ansible"]["playbooks"]["destroy"] == "../shared/destroy.yml"


def test_the_sandbox_script_restates_no_run_option():
    text = SANDBOX.read_text()
    assert "run_options.py" in text
    for flag in ("--cap-add", "--security-opt", "--cgroupns", "--volume", "--tmpfs", OPTIONS["command"]):
        assert not re.search(rf"{re.escape(flag)}(?![\w-])", text), flag


def test_no_other_tracked_file_lists_the_capabilities():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True)
    # Two capabilities nothing else in the project names: a copy of the list would name them too.
    markers = ("CHECKPOINT_RESTORE", "SYS_TTY_CONFIG")
    owners = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if any(marker in text for marker in markers):
            owners.append(name)
    assert owners == ["docker/images/systemd-host/run-options.yml"]
