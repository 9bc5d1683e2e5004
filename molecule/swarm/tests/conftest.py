"""Tools of the swarm scenario: the nodes (docker exec into each systemd host container), HTTPS through the
edge node's published port, playbook runs, keep-alive clients (molecule/shared/clients.py).

Everything runs on the control node. Probes from outside the cluster go from the control node, which sits on
the nodes' network as its gateway (172.30.90.1): an address that is not a node. Loops are bounded in count
and time.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import clients
import pytest
from helpers import (
    REPO,
    SITE_PLAYBOOK,
    _SNIConnection,
    container_sh,
    http_get,
    run_playbook,
    sandbox_vars,
    write_metric,
)

MANAGER, DB_NODE, WORKER = "swarm-1", "swarm-2", "swarm-3"
NODES = {MANAGER: "172.30.90.11", DB_NODE: "172.30.90.12", WORKER: "172.30.90.13"}
HTTPS_PORT = 48443
PROJECT = sandbox_vars()["project_name"]
DOMAIN = sandbox_vars()["project_domain"]
SITE = f"https://{DOMAIN}:{HTTPS_PORT}"
FIRST = "molecule"
METRICS_FILE = REPO / "build" / "swarm-metrics.json"


def node_sh(
    node: str, script: str, *, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    """A shell script run as root on a node (docker exec into its container)."""
    return container_sh(node, script, timeout=timeout, check=check)


def web_tasks() -> list[tuple[str, str]]:
    """(node, current state) of each web task that should run."""
    fmt = "{{.Node}} {{.CurrentState}}"
    out = node_sh(
        MANAGER, f"docker service ps --filter desired-state=running --format '{fmt}' {PROJECT}_web"
    ).stdout
    return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]


def running_web_nodes() -> list[str]:
    return [node for node, state in web_tasks() if state.startswith("Running")]


def get(path: str, timeout: float = 10.0):
    return http_get(path, port=HTTPS_PORT, host_header=f"{DOMAIN}:{HTTPS_PORT}", tls=True, timeout=timeout)


def csrf_token() -> str | None:
    cookies = get("/").headers.get_all("Set-Cookie") or []
    return next((m.group(1) for c in cookies if (m := re.match(r"csrftoken=([A-Za-z0-9]+);", c))), None)


def real_clients(workdir: Path, **options) -> clients.RealClients:
    return clients.RealClients(workdir=workdir, site=SITE, csrf_token=csrf_token, **options)


class ReleaseWatch:
    """One keep-alive HTTPS connection through the edge, a GET of / every 50 ms while an operation runs: each
    answer's status and X-App-Release, in order. Light enough not to slow the operation it watches (the
    full keep-alive load is real_clients')."""

    def __init__(self) -> None:
        self.answers: list[tuple[int | str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                conn = conn or _SNIConnection("127.0.0.1", HTTPS_PORT, DOMAIN, 10.0)
                conn.request("GET", "/", headers={"Host": f"{DOMAIN}:{HTTPS_PORT}"})
                reply = conn.getresponse()
                reply.read()
                self.answers.append((reply.status, reply.getheader("X-App-Release", "")))
            except (OSError, http.client.HTTPException) as error:
                self.answers.append((f"error: {error}", ""))
                if conn:
                    conn.close()
                conn = None
            self._stop.wait(0.05)
        if conn:
            conn.close()

    def __enter__(self) -> ReleaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def failures(self) -> list:
        return [answer for answer in self.answers if answer[0] != 200]

    def releases_seen(self) -> list[str]:
        return list(dict.fromkeys(release for _, release in self.answers))

    def summary(self) -> dict:
        return {"requests": len(self.answers), "failed": len(self.failures())}


def deploy(release: str, **extra) -> subprocess.CompletedProcess:
    """site.yml's image and stack plays (and the pre-flight play) with another release label."""
    return run_playbook(SITE_PLAYBOOK, {"project_release": release, **extra}, tags="stack", timeout=900)


def output_of(result: subprocess.CompletedProcess) -> str:
    return (result.stdout or "") + (result.stderr or "")


def tcp_open(address: str, port: int, timeout: float = 2.0) -> bool:
    """A TCP connect from the control node (not a node)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate, *, timeout: float, interval: float = 1.0, what: str = "condition") -> float:
    """Seconds until predicate() held; fails after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def record_metric(name: str, value) -> None:
    write_metric(METRICS_FILE, name, value)


@pytest.fixture(scope="session", autouse=True)
def fresh_metrics():
    METRICS_FILE.unlink(missing_ok=True)
