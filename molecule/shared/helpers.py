"""Helpers shared by the testinfra suites of every Molecule scenario.

The suites run on the control node (`molecule verify`): `host` fixtures reach the Molecule host through the
docker connection, HTTP(S) checks go through the ports the platform publishes on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SANDBOX_VARS = REPO / "ansible" / "inventories" / "sandbox" / "group_vars" / "all" / "main.yml"
SITE_PLAYBOOK = REPO / "ansible" / "playbooks" / "site.yml"
# Validates every role's inputs and changes nothing (site.yml imports it first).
PREFLIGHT_PLAYBOOK = REPO / "ansible" / "playbooks" / "preflight.yml"
ANSIBLE_CFG = REPO / "ansible" / "ansible.cfg"


# runc on a loaded machine sometimes fails to start the process of a `docker exec` ("OCI runtime exec failed:
# ... read init-p: connection reset by peer", exit 126): the script never ran, so it is run again.
EXEC_NOT_STARTED = "OCI runtime exec failed"


def exec_not_started(returncode: int, output: str) -> bool:
    """True when a `docker exec` failed before its command started, so running it again is safe."""
    return returncode == 126 and EXEC_NOT_STARTED in output


def container_sh(
    container: str, script: str, *, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    """A shell script run as root in a host container (docker exec), at most 3 times when it never started."""
    for attempt in range(3):
        if attempt:
            time.sleep(1)
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell on this side
            ["docker", "exec", container, "bash", "-c", script],  # noqa: S607 - docker from PATH
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not exec_not_started(result.returncode, result.stdout + result.stderr):
            break
    if check:
        assert result.returncode == 0, (
            f"{container}: {script!r} -> {result.returncode}: {(result.stdout + result.stderr)[-2000:]}"
        )
    return result


def sandbox_vars() -> dict:
    """The sandbox inventory's group variables (Molecule links them): one place for names and values."""
    return yaml.safe_load(SANDBOX_VARS.read_text(encoding="utf-8"))


def local_images() -> dict:
    """The sandbox inventory's registry-free images (project_image_list: local): docker/images/local.env."""
    lines = (REPO / "docker" / "images" / "local.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def molecule_inventory() -> str:
    """The inventory directory Molecule wrote for this scenario (hosts, linked group_vars and host_vars)."""
    return str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def molecule_hosts() -> list[str]:
    from testinfra.utils.ansible_runner import AnsibleRunner

    return AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to an address with the TLS server name (SNI) of the site, like a browser behind DNS."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        context = ssl.create_default_context()
        # The Molecule host uses a self-signed certificate (tls_mode selfsigned).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)


def http_get(
    url_path: str,
    *,
    port: int,
    host_header: str,
    tls: bool,
    address: str = "127.0.0.1",
    timeout: float = 10.0,
) -> Response:
    """GET url_path from address:port with the given Host header (no redirects followed)."""
    server_name = host_header.split(":", 1)[0]
    if tls:
        conn: http.client.HTTPConnection = _SNIConnection(address, port, server_name, timeout)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", url_path, headers={"Host": host_header, "User-Agent": "molecule-testinfra"})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def container_ip(name: str) -> str:
    """The Molecule host container's address on the control node's Docker bridge (its external interface)."""
    argv = ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", name]
    out = subprocess.run(  # noqa: S603 - fixed argv, no shell; docker from PATH
        argv,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    networks = json.loads(out)
    return next(iter(networks.values()))["IPAddress"]


def run_playbook(
    playbook: Path,
    extra_vars: dict | None = None,
    *,
    limit: str | None = None,
    tags: str | None = None,
    check: bool = False,
    json_output: bool = False,
    timeout: int = 600,
    inventory: str | None = None,
) -> subprocess.CompletedProcess:
    """ansible-playbook against this scenario's inventory (or `inventory`) with the project's ansible.cfg."""
    cmd = ["ansible-playbook", "-i", inventory or molecule_inventory(), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", tags]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.json"  # no profile_tasks in the JSON
    return subprocess.run(  # noqa: S603 - argv list, no shell
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def repo_copy(root: Path) -> Path:
    """A copy, under root, of what the stack role reads from the repository (docker/, app/), to break on
    purpose; pass it as stack_repo_dir."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles", ".venv")
    shutil.copytree(REPO / "app", root / "app", ignore=ignore)
    shutil.copytree(REPO / "docker", root / "docker", ignore=ignore)
    return root


def write_metric(path: Path, name: str, value) -> None:
    """One measured figure of a scenario into its JSON file (under build/, ignored by git), and printed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"METRIC {name} = {json.dumps(value)}")


def break_healthz(source: Path) -> None:
    """Make /healthz of a repo_copy answer 500: a release that fails its healthcheck."""
    middleware = source / "app" / "core" / "middleware.py"
    text = middleware.read_text(encoding="utf-8")
    broken = text.replace(
        'return self._json(200, status="ok", release=self.release)\n\n    def readiness',
        'return self._json(500, status="broken on purpose", release=self.release)\n\n    def readiness',
    )
    assert broken != text, "the healthz answer of core/middleware.py changed: update break_healthz"
    middleware.write_text(broken, encoding="utf-8")
