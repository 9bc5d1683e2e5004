"""Helpers shared by the app tests: subprocesses with a crafted environment, free ports."""

import os
import socket
import subprocess
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "app"

# A complete production environment for subprocesses; each test changes only what it is about.
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
    "DJANGO_ALLOWED_HOSTS": "localhost,testserver",
    "DATABASE_URL": os.environ["DATABASE_URL"],
    "DJANGO_STATIC_ROOT": os.environ["DJANGO_STATIC_ROOT"],
    "APP_RELEASE": "subprocess-release",
}


def base_env(**overrides):
    """A clean environment (none of the caller's DJANGO_*/POSTGRES_* leak in) plus `overrides`;
    a value of None removes the variable."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env["PYTHONPATH"] = str(APP_DIR)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(PRODUCTION_ENV)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code, timeout=60, **overrides):
    """Run `code` in a fresh interpreter from the app directory with the given environment."""
    return _run_in_app(["-c", code], timeout, overrides)


def run_manage(*args, timeout=60, **overrides):
    return _run_in_app(["manage.py", *args], timeout, overrides)


def _run_in_app(argv, timeout, overrides):
    return subprocess.run(
        [sys.executable, *argv],
        cwd=APP_DIR,
        env=base_env(**overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
