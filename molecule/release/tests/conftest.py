"""Tools of the release scenario: playbook runs, HTTPS load through nginx (new connections from Python,
keep-alive HTTP/1.1 and HTTP/2 from wrk and h2load), host commands.

Everything runs on the control node: playbooks with this scenario's inventory, `docker exec` into the host
container for the host's side, HTTPS to the port the platform publishes on 127.0.0.1. Loops are bounded in
count and time.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import clients
import pytest
from helpers import ANSIBLE_CFG, REPO, container_sh, molecule_inventory, repo_copy, sandbox_vars, write_metric

HOST = "molecule-release"
HTTPS_PORT = 38443
PLAYBOOKS = REPO / "ansible" / "playbooks"
# Measured figures of the run, for the report (build/ is ignored by git).
METRICS_FILE = REPO / "build" / "release-metrics.json"

VARS = sandbox_vars()
PROJECT = VARS["project_name"]
DOMAIN = VARS["project_domain"]
ROOT = f"/srv/{PROJECT}"
HOST_HEADER = f"{DOMAIN}:{HTTPS_PORT}"


# --- the host ---------------------------------------------------------------------------------------------


def host_sh(script: str, *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """A shell script run as root on the Molecule host (docker exec)."""
    return container_sh(HOST, script, timeout=timeout, check=check)


def compose(*args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    quoted = " ".join(f"'{a}'" for a in args)
    return host_sh(f"docker compose --project-directory {ROOT} {quoted}", timeout=timeout, check=check)


def psql(sql: str) -> str:
    """SQL on stdin of psql in the stack's database (db service); the unaligned output."""
    proc = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "docker",
            "exec",
            "-i",
            HOST,
            "docker",
            "compose",
            "--project-directory",
            ROOT,
            "exec",
            "-T",
            "db",
            "sh",
            "-c",
            'psql -v ON_ERROR_STOP=1 -XAtq -U "$POSTGRES_USER" -d "$POSTGRES_DB"',
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def slots_record() -> dict:
    return json.loads(host_sh(f"cat {ROOT}/state/slots.json").stdout)


def containers_of(service: str, *, running_only: bool = True) -> list[str]:
    """The IDs of the service's containers (a release slot has project_web_replicas of them)."""
    flags = "" if running_only else "--all"
    return host_sh(
        f"docker ps {flags} --quiet --filter label=com.docker.compose.project={PROJECT}"
        f" --filter label=com.docker.compose.service={service}"
    ).stdout.split()


def container_of(service: str, *, running_only: bool = True) -> str:
    out = containers_of(service, running_only=running_only)
    return out[0] if out else ""


# --- playbooks --------------------------------------------------------------------------------------------


def _playbook_cmd(name: str, extra_vars: dict | None, nice: bool = False) -> tuple[list[str], dict]:
    cmd = ["ansible-playbook", "-i", molecule_inventory(), str(PLAYBOOKS / f"{name}.yml")]
    if nice:
        # Under load the control node's Ansible competes with the load generator for the same cores: the
        # deploy may take longer, the load must not falter.
        cmd = ["nice", "-n", "15", *cmd]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return cmd, env


def playbook(
    name: str, extra_vars: dict | None = None, *, timeout: int = 900, nice: bool = False
) -> subprocess.CompletedProcess:
    cmd, env = _playbook_cmd(name, extra_vars, nice)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)  # noqa: S603


def playbook_background(
    name: str, extra_vars: dict | None, log: Path, *, nice: bool = False
) -> subprocess.Popen:
    cmd, env = _playbook_cmd(name, extra_vars, nice)
    handle = log.open("w", encoding="utf-8")
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, text=True, env=env)  # noqa: S603


def output_of(result: subprocess.CompletedProcess) -> str:
    return (result.stdout or "") + (result.stderr or "")


# --- HTTPS ------------------------------------------------------------------------------------------------

# One context for every connection (loading CA files per connection would cost more than the request).
_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE  # the host's certificate is self-signed (tls_mode selfsigned)


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes
    session: ssl.SSLSession | None = None
    cookies: list = field(default_factory=list)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def get(
    path: str, timeout: float = 15.0, session: ssl.SSLSession | None = None, method: str = "GET"
) -> Reply:
    """One HTTPS request to nginx on its own connection (SNI and Host of the site). `session` resumes an
    earlier TLS session (nginx's session cache): a new connection without the full handshake's cost."""
    sock = socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=timeout)
    try:
        tls = _TLS.wrap_socket(sock, server_hostname=DOMAIN, session=session)
        conn = http.client.HTTPConnection("127.0.0.1", HTTPS_PORT, timeout=timeout)
        conn.sock = tls
        conn.request(method, path, headers={"Host": HOST_HEADER, "User-Agent": "molecule-release-load"})
        resp = conn.getresponse()
        body = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        new_session = tls.session
        conn.close()
        return Reply(resp.status, headers, body, new_session, resp.msg.get_all("Set-Cookie") or [])
    finally:
        sock.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll until predicate() is truthy (exceptions count as falsy), bounded in time; seconds waited."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception as exc:
            last = exc
        time.sleep(interval)
    pytest.fail(f"{what} not reached within {timeout} s (last error: {last!r})")
    return None


def site_ok(path: str = "/readyz") -> bool:
    return get(path, timeout=5).status == 200


@dataclass
class Load:
    """Steady HTTPS load through nginx: `rate` requests per second in total from `threads` threads, a new
    connection per request (so every failure counted is the server's, never a keepalive race of the
    client), with resumed TLS sessions, one request in four for the landing page (one database query), the
    others for /healthz (answered by Django's first middleware). Records per response the time, status and
    X-App-Release; connection errors count as failures."""

    # Aimed above 100/s: the rate achieved on a busy 2-core machine is what the test asserts.
    rate: float = 150.0
    threads: int = 12
    paths: tuple = ("/", "/healthz", "/healthz", "/healthz")
    max_seconds: float = 600.0
    records: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0

    def _run(self, index: int) -> None:
        interval = self.threads / self.rate
        next_at = time.monotonic() + index * interval / self.threads
        n = 0
        session = None
        while not self._stop.is_set() and time.monotonic() - self.started < self.max_seconds:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            path = self.paths[(index + n) % len(self.paths)]
            n += 1
            sent = time.monotonic()
            try:
                reply = get(path, timeout=20, session=session)
            except (OSError, http.client.HTTPException) as exc:
                session = None
                with self._lock:
                    self.errors.append((sent, path, repr(exc)))
                continue
            session = reply.session
            with self._lock:
                self.records.append((sent, path, reply.status, reply.header("X-App-Release")))
                if not 200 <= reply.status < 300:
                    self.errors.append((sent, path, f"HTTP {reply.status}"))

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        self.stopped = time.monotonic()

    @property
    def sent(self) -> int:
        return len(self.records) + len([e for e in self.errors if not e[2].startswith("HTTP ")])

    @property
    def duration(self) -> float:
        return (self.stopped or time.monotonic()) - self.started

    def releases(self) -> list[str]:
        """The release labels in the order they were first seen."""
        seen: list[str] = []
        for record in sorted(self.records):
            if record[3] and record[3] not in seen:
                seen.append(record[3])
        return seen

    def first_seen(self, release: str) -> float | None:
        times = [r[0] for r in self.records if r[3] == release]
        return min(times) if times else None

    def summary(self) -> dict:
        return {
            "requests": self.sent,
            "failed": len(self.errors),
            "seconds": round(self.duration, 1),
            "rate_per_s": round(self.sent / self.duration, 1) if self.duration else 0,
            "releases_seen": self.releases(),
            "first_errors": [e[2] for e in self.errors[:5]],
        }


def _load_process(rate: float, threads: int, max_seconds: float, stop, queue) -> None:
    load = Load(rate=rate, threads=threads, max_seconds=max_seconds)
    with load:
        stop.wait(max_seconds)
    queue.put((load.records, load.errors))


@dataclass
class ProcessLoad(Load):
    """Load from several processes (each a Load with its share of the rate and threads): Python threads
    share one interpreter lock, processes do not. time.monotonic() is the same clock in every process."""

    processes: int = 2

    def __enter__(self) -> ProcessLoad:
        ctx = multiprocessing.get_context("fork")
        self._mp_stop = ctx.Event()
        self._queue = ctx.Queue()
        self.started = time.monotonic()
        self._procs = [
            ctx.Process(
                target=_load_process,
                args=(
                    self.rate / self.processes,
                    max(1, self.threads // self.processes),
                    self.max_seconds,
                    self._mp_stop,
                    self._queue,
                ),
                daemon=True,
            )
            for _ in range(self.processes)
        ]
        for proc in self._procs:
            proc.start()
        return self

    def __exit__(self, *exc) -> None:
        self._mp_stop.set()
        for _ in self._procs:
            records, errors = self._queue.get(timeout=120)
            self.records.extend(records)
            self.errors.extend(errors)
        for proc in self._procs:
            proc.join(timeout=30)
        self.stopped = time.monotonic()


# Keep-alive clients (molecule/shared/clients.py) through this scenario's nginx.
SITE = f"https://{DOMAIN}:{HTTPS_PORT}"


def csrf_token() -> str | None:
    cookies = get("/").cookies
    return next((m.group(1) for c in cookies if (m := re.match(r"csrftoken=([A-Za-z0-9]+);", c))), None)


def RealClients(workdir: Path, **options) -> clients.RealClients:
    return clients.RealClients(workdir=workdir, site=SITE, csrf_token=csrf_token, **options)


# --- metrics ----------------------------------------------------------------------------------------------


def record_metric(name: str, value) -> None:
    write_metric(METRICS_FILE, name, value)


@pytest.fixture(scope="session", autouse=True)
def fresh_metrics():
    if METRICS_FILE.exists():
        METRICS_FILE.unlink()


# --- release sources --------------------------------------------------------------------------------------


@pytest.fixture
def release_source(tmp_path):
    """A copy of what the stack role reads from the repository (docker/, app/), to break on purpose."""

    def make() -> Path:
        return repo_copy(tmp_path / "repo")

    return make
