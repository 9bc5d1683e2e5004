"""Tools of the release scenario: playbook runs, HTTPS load through nginx (new connections from Python,
keep-alive HTTP/1.1 and HTTP/2 from wrk and h2load), host commands.

Everything runs on the control node: playbooks with this scenario's inventory, `docker exec` into the host
container for the host's side, HTTPS to the port the platform publishes on 127.0.0.1. Loops are bounded in
count and time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import ANSIBLE_CFG, REPO, molecule_inventory, sandbox_vars

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
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell on this side
        ["docker", "exec", HOST, "bash", "-c", script],  # noqa: S607 - docker from PATH
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{script!r} -> {result.returncode}: {result.stderr[-2000:]}"
    return result


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


def container_of(service: str, *, running_only: bool = True) -> str:
    flags = "" if running_only else "--all"
    out = host_sh(
        f"docker ps {flags} --quiet --filter label=com.docker.compose.project={PROJECT}"
        f" --filter label=com.docker.compose.service={service}"
    ).stdout.split()
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


# Keep-alive clients (wrk, h2load: Debian packages the test tools script installs).
SITE = f"https://{DOMAIN}:{HTTPS_PORT}"
WRK_SCRIPT = Path(__file__).with_name("wrk_counts.lua")
# Requests per HTTP/2 connection of one h2load round: below nginx's keepalive_requests (1000), after which
# nginx ends a connection with GOAWAY. Browsers resend the streams a GOAWAY refused; h2load counts them as
# errors, which would hide the errors this load is there to find.
H2_REQUESTS_PER_CONNECTION = 800
H2_ROUND_TIMEOUT_S = 120
_H2_REQUESTS = re.compile(
    r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout",
    re.MULTILINE,
)
_H2_STATUSES = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)


@dataclass
class RealClients:
    """Keep-alive clients through nginx for the length of an operation, as browsers and API clients behave:
    wrk (HTTP/1.1, connections reused for every request) sends GETs of `/` and, on connections of their own,
    CSRF-protected POSTs of the language switch (Django answers a fetch() of it 204); h2load (HTTP/2, 8
    streams per connection) GETs `/` and `/healthz` in back-to-back rounds of 800 requests per connection.
    `stop()` waits, bounded by max_seconds, until the operation is over and at least min_requests were
    answered, then stops every client. Socket errors of any kind and every response outside 2xx count as
    failures."""

    # wrk's and h2load's output and wrk's progress files.
    workdir: Path
    min_requests: int = 50_000
    max_seconds: float = 600.0
    wrk_get_connections: int = 4
    wrk_post_connections: int = 2
    h2_connections: int = 2
    _procs: dict = field(default_factory=dict)
    _h2_rounds: list = field(default_factory=list)
    _h2_stop: threading.Event = field(default_factory=threading.Event)
    _h2_thread: threading.Thread | None = None
    started: float = 0.0
    results: dict = field(default_factory=dict)

    def _wrk(self, name: str, connections: int, path: str, *script_args: str) -> None:
        progress = self.workdir / f"{name}.progress"
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(self.max_seconds) + 60}s",
            "--timeout",
            "20s",
            "-s",
            str(WRK_SCRIPT),
            f"{SITE}{path}",
            "--",
            str(progress),
            *script_args,
        ]
        out = (self.workdir / f"{name}.out").open("w", encoding="utf-8")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - fixed argv
        self._procs[name] = (proc, out, progress)

    def _h2_loop(self) -> None:
        cmd = [
            "h2load",
            f"-c{self.h2_connections}",
            "-m8",
            f"-n{self.h2_connections * H2_REQUESTS_PER_CONNECTION}",
            f"{SITE}/",
            f"{SITE}/healthz",
        ]
        while not self._h2_stop.is_set() and time.monotonic() - self.started < self.max_seconds:
            done = subprocess.run(  # noqa: S603 - fixed argv
                cmd, capture_output=True, text=True, timeout=H2_ROUND_TIMEOUT_S, check=False
            )
            self._h2_rounds.append(done.stdout + done.stderr)

    def __enter__(self) -> RealClients:
        token = next(
            (m.group(1) for c in get("/").cookies if (m := re.match(r"csrftoken=([A-Za-z0-9]+);", c))), None
        )
        assert token, "GET / set no CSRF cookie"
        self.started = time.monotonic()
        self._wrk("wrk-get", self.wrk_get_connections, "/", "get")
        self._wrk("wrk-post", self.wrk_post_connections, "/i18n/setlang/", "post", "language=ru", token, SITE)
        self._h2_thread = threading.Thread(target=self._h2_loop, daemon=True)
        self._h2_thread.start()
        return self

    def answered(self) -> int:
        """Responses so far: wrk's progress files and h2load's finished rounds."""
        total = 0
        for _proc, _out, progress in self._procs.values():
            # Absent until 500 answers, possibly half-written at a given instant.
            with contextlib.suppress(OSError, ValueError):
                total += int(progress.read_text(encoding="utf-8").strip() or 0)
        return total + sum(int(m.group(2)) for r in self._h2_rounds if (m := _H2_REQUESTS.search(r)))

    def stop(self) -> dict:
        while self.answered() < self.min_requests and time.monotonic() - self.started < self.max_seconds:
            time.sleep(0.5)
        self._h2_stop.set()
        for proc, _out, _progress in self._procs.values():
            proc.send_signal(signal.SIGINT)
        for name, (proc, out, _progress) in self._procs.items():
            proc.wait(timeout=60)
            out.close()
            text = (self.workdir / f"{name}.out").read_text(encoding="utf-8")
            line = next((x for x in text.splitlines() if x.startswith("WRK-RESULT ")), None)
            assert line, f"{name} printed no result: {text[-2000:]}"
            result = json.loads(line.removeprefix("WRK-RESULT "))
            self.results[name] = {
                "requests": result["requests"],
                "connection_errors": sum(v for k, v in result["errors"].items() if k != "status"),
                "non_2xx": sum(n for status, n in result["statuses"].items() if not status.startswith("2")),
                "statuses": result["statuses"],
                "release_order": result["release_order"],
                "seconds": result["seconds"],
                "p99_ms": result["p99_ms"],
            }
        self._h2_thread.join(timeout=H2_ROUND_TIMEOUT_S + 30)
        self.results["h2load"] = self._h2_summary()
        return self.results

    def _h2_summary(self) -> dict:
        done = errors = non_2xx = 0
        for text in self._h2_rounds:
            requests, statuses = _H2_REQUESTS.search(text), _H2_STATUSES.search(text)
            assert requests and statuses, f"h2load printed no summary: {text[-2000:]}"
            done += int(requests.group(2))
            # `failed` also counts 4xx/5xx answers, which the status line gives: errored and timed out only.
            errors += int(requests.group(5)) + int(requests.group(6))
            non_2xx += sum(int(statuses.group(i)) for i in (2, 3, 4))
        return {
            "requests": done,
            "connection_errors": errors,
            "non_2xx": non_2xx,
            "rounds": len(self._h2_rounds),
        }

    def __exit__(self, *exc) -> None:
        if not self.results:
            self.stop()

    @property
    def requests(self) -> int:
        return sum(r["requests"] for r in self.results.values())

    @property
    def failures(self) -> dict:
        """Per client, the connection errors and non-2xx responses; empty when there were none."""
        return {
            name: {"connection_errors": r["connection_errors"], "non_2xx": r["non_2xx"]}
            for name, r in self.results.items()
            if r["connection_errors"] or r["non_2xx"]
        }

    def releases_seen(self) -> list[str]:
        """The release labels in the order wrk's GETs first saw them."""
        return self.results["wrk-get"]["release_order"]


# --- metrics ----------------------------------------------------------------------------------------------


def record_metric(name: str, value) -> None:
    METRICS_FILE.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(METRICS_FILE.read_text(encoding="utf-8")) if METRICS_FILE.exists() else {}
    data[name] = value
    METRICS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"METRIC {name} = {json.dumps(value)}")


@pytest.fixture(scope="session", autouse=True)
def fresh_metrics():
    if METRICS_FILE.exists():
        METRICS_FILE.unlink()


# --- release sources --------------------------------------------------------------------------------------


@pytest.fixture
def release_source(tmp_path):
    """A copy of what the stack role reads from the repository (docker/, app/), to break on purpose."""

    def make() -> Path:
        root = tmp_path / "repo"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles", ".venv")
        shutil.copytree(REPO / "app", root / "app", ignore=ignore)
        shutil.copytree(REPO / "docker", root / "docker", ignore=ignore)
        return root

    return make
