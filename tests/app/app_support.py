"""Helpers shared by the app tests: subprocesses with a crafted environment, free ports, a real gunicorn."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

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


def fetch(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn(config="gunicorn.conf.py", unix_socket=None, **overrides):
    """A gunicorn master as the image runs it (`config`: another file for tests that add hooks; `unix_socket`:
    also bound there, as in a release slot); yields (port, process) and stops it with SIGTERM."""
    port = free_port()
    bind = f"127.0.0.1:{port}" if unix_socket is None else f"unix:{unix_socket},127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(config), "config.wsgi"],
        cwd=APP_DIR,
        env=base_env(**{"GUNICORN_BIND": bind, "GUNICORN_WORKERS": "2", **overrides}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if fetch(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def url_of_test_database():
    """pytest-django's test database (it exists once django_db_setup has run)."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
