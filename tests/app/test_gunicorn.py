"""gunicorn.conf.py: its values from the environment, and a real gunicorn serving the app."""

import http.client
import json
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_support import APP_DIR, base_env, fetch, free_port, gunicorn, url_of_test_database
from gunicorn.config import Config

from config import replica

CONF = APP_DIR / "gunicorn.conf.py"
# What nginx's $request_id looks like: 32 hex digits.
NGINX_REQUEST_ID = "5f0c9e2b7d4a41c8a3e6b1f09d2c7e48"


def load_conf(monkeypatch, **env):
    """The settings gunicorn would apply, validated by gunicorn's own Config."""
    for name in list(env):
        monkeypatch.setenv(name, env[name])
    namespace = runpy.run_path(str(CONF))
    cfg = Config()
    for name, value in namespace.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_defaults(monkeypatch):
    for name in ("GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
                 "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE", "GUNICORN_MAX_REQUESTS",
                 "GUNICORN_MAX_REQUESTS_JITTER", "GUNICORN_FORWARDED_ALLOW_IPS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    cfg = load_conf(monkeypatch)
    assert cfg.bind == ["0.0.0.0:8000"]
    assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (2, 4, "gthread")
    assert (cfg.timeout, cfg.graceful_timeout, cfg.keepalive) == (30, 30, 5)
    assert (cfg.max_requests, cfg.max_requests_jitter) == (20000, 2000)
    assert cfg.forwarded_allow_ips == ["127.0.0.1"]
    assert (cfg.accesslog, cfg.errorlog) == ("-", "-")
    # No access line of gunicorn's own unless GUNICORN_ACCESS_LOG says so: nginx logs every request.
    assert cfg.logger_class.__name__ == "_NoAccessLogger"
    assert cfg.control_socket_disable is True
    assert cfg.wsgi_app == "config.wsgi:application"


def test_environment_overrides(monkeypatch):
    cfg = load_conf(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:9000,unix:/run/app.sock",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="1",
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="20",
        GUNICORN_KEEPALIVE="2",
        GUNICORN_MAX_REQUESTS="500",
        GUNICORN_MAX_REQUESTS_JITTER="50",
        GUNICORN_FORWARDED_ALLOW_IPS="172.30.80.0/24",
        GUNICORN_ACCESS_LOG="true",
        DJANGO_LOG_LEVEL="warning",
    )
    assert cfg.bind == ["127.0.0.1:9000", "unix:/run/app.sock"]
    assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (3, 1, "sync")  # one thread: sync worker
    assert (cfg.timeout, cfg.graceful_timeout, cfg.keepalive) == (60, 20, 2)
    assert (cfg.max_requests, cfg.max_requests_jitter) == (500, 50)
    assert cfg.forwarded_allow_ips == ["172.30.80.0/24"]
    assert cfg.logger_class.__name__ == "Logger"  # gunicorn's own, with the access line
    assert cfg.loglevel == "warning"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_the_app():
    proxied = {"Host": "localhost", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with gunicorn(
        DATABASE_URL=url_of_test_database(), DJANGO_ALLOWED_HOSTS="localhost", GUNICORN_ACCESS_LOG="true"
    ) as (port, process):
        status, headers, body = fetch(port, "/healthz", {"Host": "172.18.0.4:8000"})
        assert (status, json.loads(body)) == (200, {"status": "ok", "release": "subprocess-release"})
        status, _, body = fetch(port, "/readyz")
        assert (status, json.loads(body)["status"]) == (200, "ok"), body

        status, headers, body = fetch(port, "/", {**proxied, "X-Request-ID": NGINX_REQUEST_ID})
        assert status == 200
        assert "Добро пожаловать" in body.decode()
        assert headers["X-App-Release"] == "subprocess-release"
        assert headers["X-Request-ID"] == NGINX_REQUEST_ID
        assert "Strict-Transport-Security" in headers

        status, headers, _ = fetch(port, "/", {"Host": "localhost"})  # plain HTTP from the proxy
        assert (status, headers["Location"]) == (301, "https://localhost/")

        stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', body.decode()).group(1)
        status, headers, _ = fetch(port, stylesheet, proxied)
        assert status == 200
        assert "immutable" in headers["Cache-Control"]

        fetch(port, "/accounts/reset/MQ/cl9x2a-0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b/", proxied)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0  # graceful shutdown
        log = process.stdout.read()

    # The access line carries nginx's request id, as every record of the request does.
    assert re.search(
        rf"INFO \[gunicorn\.access\] \d+ {NGINX_REQUEST_ID} "
        rf'127\.0\.0\.1 "203\.0\.113\.7" "GET / HTTP/1\.1" 200 .* \d+ms$',
        log,
        re.M,
    ), log
    assert "/accounts/reset/MQ/***/" in log
    assert "0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b" not in log
    assert "Using worker: gthread" in log
    assert "Shutting down: Master" in log


def test_gunicorn_with_the_database_down():
    """Liveness stays green (no restart loop) while readiness reports the outage."""
    url = f"postgres://postgres@127.0.0.1:{free_port()}/djangoapp"
    with gunicorn(DATABASE_URL=url, DJANGO_DB_POOL_TIMEOUT="2") as (port, _process):
        assert fetch(port, "/healthz")[0] == 200
        status, _, body = fetch(port, "/readyz")
        assert status == 503
        assert json.loads(body)["reason"] == "database unavailable"


def test_gunicorn_writes_no_access_line_by_default():
    with gunicorn() as (port, process):
        assert fetch(port, "/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        log = process.stdout.read()
    assert "Starting gunicorn" in log, log
    assert "gunicorn.access" not in log, log
    assert "GET /healthz" not in log, log


def test_gunicorn_logs_in_the_app_format():
    with gunicorn(DJANGO_LOG_FORMAT="json", GUNICORN_ACCESS_LOG="true") as (port, process):
        fetch(port, "/healthz")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        lines = process.stdout.read().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len([line for line in lines if line.strip()]), "non-JSON output:\n" + "\n".join(
        lines
    )
    assert any(r["logger"] == "gunicorn.error" and "Starting gunicorn" in r["message"] for r in records)
    assert any(r["logger"] == "gunicorn.access" and "GET /healthz" in r["message"] for r in records)


def test_gunicorn_refuses_to_start_on_bad_settings():
    """With preload_app the master loads the settings itself: it exits at once, naming the variable,
    instead of forking workers that fail one after another."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
        cwd=APP_DIR,
        env=base_env(GUNICORN_BIND=f"127.0.0.1:{free_port()}", DJANGO_SECRET_KEY="change-me"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is a known placeholder" in result.stderr
    assert "Booting worker" not in result.stdout + result.stderr
    assert time.monotonic() - started < 30


def _fetch_unix(path: Path, url: str) -> int:
    """Status of a GET of `url` over the Unix socket at `path` (as nginx reaches a release slot)."""

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(str(path))

    connection = UnixConnection("localhost", timeout=15)
    try:
        connection.request("GET", url, headers={"Host": "localhost"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_replica_binds(tmp_path):
    """One replica binds GUNICORN_BIND as it is; with several, each claims the first free number in the
    socket's directory and renames its socket for it, and one too many is refused naming the variable."""
    sock = tmp_path / "gunicorn.sock"
    binds = [f"unix:{sock}", "127.0.0.1:8000"]
    assert replica.replica_binds(binds, 1) == binds
    assert replica.replica_binds(binds, 3) == binds  # number 1: the path itself
    assert replica.replica_binds(binds, 3) == binds  # a reload keeps the number it holds
    assert replica.claim(tmp_path, 3) == 2
    assert replica.claim(tmp_path, 3) == 3
    with pytest.raises(RuntimeError, match=r"GUNICORN_REPLICAS=3: replicas 1 to 3 already run"):
        replica.claim(tmp_path, 3)
    assert replica.socket_path(sock, 2) == tmp_path / "gunicorn-2.sock"
    with pytest.raises(ValueError, match="GUNICORN_REPLICAS must be 1 or more"):
        replica.replica_binds(binds, 0)
    with pytest.raises(ValueError, match="exactly one unix: socket in GUNICORN_BIND"):
        replica.replica_binds(["127.0.0.1:8000"], 2)


def test_gunicorn_replicas_share_a_socket_directory(tmp_path):
    """Real masters with GUNICORN_REPLICAS=2 in one slot directory: each serves on a socket of its own, a
    third one exits naming the variable, and a replica that stops leaves its number to the next one."""
    sock = tmp_path / "gunicorn.sock"
    second = tmp_path / "gunicorn-2.sock"
    env = {"GUNICORN_REPLICAS": "2", "GUNICORN_WORKERS": "1"}
    with gunicorn(unix_socket=sock, **env):
        with gunicorn(unix_socket=sock, **env):
            assert _fetch_unix(sock, "/healthz") == 200
            assert _fetch_unix(second, "/healthz") == 200
            third = subprocess.run(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
                cwd=APP_DIR,
                env=base_env(GUNICORN_BIND=f"unix:{sock}", **env),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert third.returncode != 0
            assert "GUNICORN_REPLICAS=2: replicas 1 to 2 already run" in third.stderr, third.stderr
        # The second one stopped: a new master takes its number again.
        with gunicorn(unix_socket=sock, **env):
            assert _fetch_unix(second, "/healthz") == 200
