"""Every environment variable the app or the Compose file reads is documented in
docs/config/environment.md, in a table row whose first cell is the variable's name."""

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "config" / "environment.md"
# The Compose files and the Swarm stack file (docker stack deploy interpolates the same way).
COMPOSE_FILES = sorted((ROOT / "docker").glob("compose*.yml")) + sorted((ROOT / "docker").glob("stack.yml"))

# Names under which app code calls python-decouple: `config` in settings, `env` in gunicorn.conf.py.
CONFIG_FUNCTIONS = {"config", "env"}
ENVIRON_METHODS = {"get", "setdefault", "pop"}
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $${NAME} is escaped (expanded inside the container).
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _name(node):
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _is_os_environ(node):
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _name(node.value) == "os"


def _first_string(args):
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def variables_read_by_python(source):
    """Names passed to config()/env(), os.environ.get/setdefault/pop(), os.getenv() or os.environ[...]."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                _name(func) in CONFIG_FUNCTIONS
                or (
                    isinstance(func, ast.Attribute)
                    and func.attr in ENVIRON_METHODS
                    and _is_os_environ(func.value)
                )
                or (isinstance(func, ast.Attribute) and func.attr == "getenv" and _name(func.value) == "os")
            ):
                name = _first_string(node.args)
                if name:
                    names.add(name)
        elif (
            isinstance(node, ast.Subscript)
            and _is_os_environ(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            names.add(node.slice.value)
    return names


def app_variables():
    names = set()
    for path in (ROOT / "app").rglob("*.py"):
        if "migrations" not in path.parts:
            names |= variables_read_by_python(path.read_text())
    return names


class _ComposeLoader(yaml.SafeLoader):
    """Accepts Compose's own tags (!reset, !override) by ignoring them."""


def _untagged(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_ComposeLoader.add_multi_constructor("!", _untagged)


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def compose_variables():
    """Variables interpolated in the Compose files' values (comments are not interpolated)."""
    names = set()
    for path in COMPOSE_FILES:
        for text in _strings(yaml.load(path.read_text(), Loader=_ComposeLoader)):  # noqa: S506 (SafeLoader subclass)
            names.update(COMPOSE_VARIABLE.findall(text))
    return names


def documented_variables():
    """Names in the first cell of the document's table rows: "| `DJANGO_DEBUG` | ...", or several
    ("| `PYTHON_IMAGE`, `NGINX_IMAGE` | ...")."""
    names = set()
    for line in DOC.read_text().splitlines():
        if line.startswith("|"):
            cell = line.strip("|").split("|")[0].strip()
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", cell) or re.findall(r"^[A-Z][A-Z0-9_]*$", cell))
    return names


def test_scanner_finds_every_kind_of_read():
    source = """
import os
from config.env import config
A = config("VIA_CONFIG", default=1)
B = env("VIA_ENV")
C = os.environ.get("VIA_ENVIRON_GET")
D = os.environ["VIA_SUBSCRIPT"]
os.environ.setdefault("VIA_SETDEFAULT", "x")
E = os.getenv("VIA_GETENV")
F = settings.get("NOT_ENV")
"""
    assert variables_read_by_python(source) == {
        "VIA_CONFIG",
        "VIA_ENV",
        "VIA_ENVIRON_GET",
        "VIA_SUBSCRIPT",
        "VIA_SETDEFAULT",
        "VIA_GETENV",
    }
    assert COMPOSE_VARIABLE.findall("a: ${ONE:-x} b: $${NOT_ME} c: ${TWO:?y} d: ${THREE}") == [
        "ONE",
        "TWO",
        "THREE",
    ]


def test_scanner_sees_the_app():
    # Guards against a scanner that silently finds nothing.
    assert {
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "GUNICORN_WORKERS",
        "DJANGO_SETTINGS_MODULE",
    } <= app_variables()


def test_app_variables_are_documented():
    missing = sorted(app_variables() - documented_variables())
    assert not missing, f"read by app/ but not in {DOC.relative_to(ROOT)}: {missing}"


@pytest.mark.skipif(not COMPOSE_FILES, reason="docker/compose*.yml does not exist yet")
def test_compose_variables_are_documented():
    missing = sorted(compose_variables() - documented_variables())
    assert not missing, f"interpolated in docker/compose*.yml but not in {DOC.relative_to(ROOT)}: {missing}"
