"""The Compose stack on the local Docker engine for the stack tests: `running_stack` builds the app image,
brings docker/compose.yml up with scripts/local-stack.sh (the script behind `make up`) under a unique project
name `t-stack-<random>` on free 127.0.0.1 ports, and always tears it down with its volumes. Base images are
the official ones when present or pullable, otherwise the registry-free ones of docker/images/local.env."""

from __future__ import annotations

import json
import os
import re
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from bench.network import free_port, free_subnet

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local-stack.sh"
DOMAIN = "localhost"
UNKNOWN_HOST = "unknown.example"
HASHED_STATIC = re.compile(r'/static/[^"\'\s]+\.[0-9a-f]{12}\.css')
# nginx's access line (log_format `site`, ansible/roles/nginx/files/snippets/log-format.conf); /static/ is not
# logged (static.conf), every request passed to gunicorn is.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NGINX_ACCESS = re.compile(
    r'^(?P<client>\S+) - \S+ \[[^\]]+\] "(?P<request>[^"]*)" (?P<status>\d{3}) \d+ "[^"]*" "[^"]*" '
    r"rt=[0-9.]+ upstream=(?P<upstream>\S+) upstream_status=\S+ upstream_rt=\S+ release=(?P<release>\S+) "
    r"forwarded_for=(?P<forwarded_for>\S+) request_id=(?P<request_id>[0-9a-f]{32})$"
)


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True):
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-6000:]}"
        )
    return result


@dataclass
class Stack:
    project: str
    state: Path
    env: dict[str, str]
    http_port: int
    https_port: int
    release: str
    image: str
    up_seconds: float

    @property
    def cafile(self) -> str:
        return str(self.state / "tls" / "fullchain.pem")

    def https(self, path: str) -> str:
        return f"https://{DOMAIN}:{self.https_port}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        kwargs.setdefault("allow_redirects", False)
        return requests.get(self.https(path), verify=self.cafile, **kwargs)

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(SCRIPT), "compose", *args], env=self.env, check=check)

    def containers(self) -> dict[str, dict]:
        """`docker inspect` of every container of the project (exited ones too), by service name."""
        ids = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"])
        found = json.loads(run(["docker", "inspect", *ids.stdout.split()]).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}

    def nginx_access(self) -> list[dict[str, str]]:
        """nginx's access lines (every request it answered), parsed; any other line of its log is skipped."""
        out = ANSI.sub("", self.compose("logs", "--no-color", "--no-log-prefix", "nginx").stdout)
        return [m.groupdict() | {"line": m.group(0)} for m in map(NGINX_ACCESS.match, out.splitlines()) if m]

    def proxied(self) -> list[dict[str, str]]:
        """The requests nginx passed to gunicorn (an upstream address logged)."""
        return [entry for entry in self.nginx_access() if entry["upstream"] != "-"]

    def web_upstream(self) -> str:
        """The upstream nginx logs for the app: the socket behind the link `live`, which the sockets volume
        (seeded by the app image) points at web."""
        return "unix:/run/app/live/gunicorn.sock"

    def logged(self, marker: str) -> dict[str, str]:
        """nginx's access line of the request whose target contains `marker` (waits for it)."""
        deadline = time.monotonic() + 10
        while not (found := [e for e in self.nginx_access() if marker in e["request"]]):
            assert time.monotonic() < deadline, f"no access line of nginx names {marker}"
            time.sleep(0.2)
        assert len(found) == 1, found
        return found[0]

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


@contextmanager
def running_stack(state: Path) -> Iterator[Stack]:
    """A stack whose local state lives in `state`; raises AssertionError when it does not come up."""
    project = f"t-stack-{secrets.token_hex(4)}"
    state.chmod(0o755)
    http_port, https_port = free_port(), free_port()
    release = f"stack-test-{secrets.token_hex(3)}"
    image = f"djangoapp/web:{project}"
    env = {
        **os.environ,
        "LOCAL_STACK_DIR": str(state),
        "LOCAL_STACK_PROJECT": project,
        "LOCAL_DOMAIN": DOMAIN,
        "LOCAL_PUBLISH_ADDR": "127.0.0.1",
        "LOCAL_HTTP_PORT": str(http_port),
        "LOCAL_HTTPS_PORT": str(https_port),
        "LOCAL_FRONTEND_SUBNET": (frontend := free_subnet()),
        "LOCAL_MONITORING_SUBNET": free_subnet(avoid=(frontend,)),
        "APP_IMAGE": image,
        "APP_RELEASE": release,
        "DEV": "0",
    }
    started = time.monotonic()
    up = run([str(SCRIPT), "up"], env=env, timeout=1800, check=False)
    try:
        if up.returncode != 0:
            raise AssertionError(f"stack did not come up (exit {up.returncode}):\n{up.stderr[-8000:]}")
        yield Stack(project, state, env, http_port, https_port, release, image, time.monotonic() - started)
    finally:
        down = run([str(SCRIPT), "down", "--volumes"], env=env, timeout=300, check=False)
        if down.returncode != 0:
            run(["docker", "compose", "-p", project, "down", "--volumes", "--remove-orphans"], check=False)
        run(["docker", "image", "rm", image], check=False)
