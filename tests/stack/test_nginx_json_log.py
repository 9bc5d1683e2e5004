"""nginx's JSON access line (nginx_log_format: json, log_format `site_json`): the nginx role's site template
rendered with it, run in the stack's nginx image, one JSON object per request with the fields of the plain
line, the request id and the same masking of secrets."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "ansible" / "roles" / "nginx" / "files" / "snippets"

pytestmark = pytest.mark.stack
DOMAIN = "log.example.test"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture
def nginx(tmp_path):
    """The site rendered with the JSON access line, in a container of the stack's nginx image."""
    # The stack's choice: the official image when present, else the registry-free one.
    chosen = sh(str(ROOT / "scripts" / "local-stack.sh"), "images").stdout
    image = re.search(r"^NGINX_IMAGE=(\S+)$", chosen, re.M).group(1)
    tls = tmp_path / "tls"
    tls.mkdir()
    sh(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "2", "-subj", f"/CN={DOMAIN}", "-keyout", str(tls / "privkey.pem"),
        "-out", str(tls / "fullchain.pem"),
    )  # fmt: skip
    tls.chmod(0o755)
    for pem in tls.iterdir():
        pem.chmod(0o644)
    conf = tmp_path / "conf.d"
    sh(
        sys.executable, str(ROOT / "scripts" / "render_nginx_site.py"), str(conf), DOMAIN,
        "--nginx-image", image, "--tls-dir", str(tls), "--access-log", "json",
    )  # fmt: skip
    name = f"t-nginx-log-{secrets.token_hex(4)}"
    sh(
        "docker", "run", "--detach", "--name", name, "--network", "none",
        "--volume", f"{conf}:/etc/nginx/conf.d:ro", "--volume", f"{SNIPPETS}:/etc/nginx/snippets:ro",
        "--volume", f"{tls}:/etc/nginx/tls:ro", image,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "start worker process" not in sh("docker", "logs", name).stderr:
            assert time.monotonic() < deadline, sh("docker", "logs", name)
            time.sleep(0.3)
        yield name
    finally:
        sh("docker", "rm", "--force", name, check=False)


def request(container: str, target: str) -> str:
    """One HTTP/1.0 request to the site's port 80 from inside the container; the status line."""
    script = (
        "exec 3<>/dev/tcp/127.0.0.1/80 && "
        f"printf 'GET {target} HTTP/1.0\\r\\nHost: {DOMAIN}\\r\\nUser-Agent: t\"ua\\r\\n\\r\\n' >&3 && "
        "head -n 1 <&3"
    )
    return sh("docker", "exec", container, "bash", "-c", script).stdout


def test_each_request_is_one_json_object_with_its_id_and_no_secret(nginx):
    assert " 308 " in request(nginx, "/accounts/login/?next=/admin/&password=hunter2")
    assert " 308 " in request(nginx, "/accounts/reset/MQ/cl9x2a-0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b/")
    lines = [x for x in sh("docker", "logs", nginx).stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 2, lines
    first, second = (json.loads(x) for x in lines)
    assert set(first) == {
        "time", "client", "user", "request", "status", "bytes", "referer", "user_agent", "request_time",
        "upstream", "upstream_status", "upstream_time", "release", "forwarded_for", "request_id",
    }  # fmt: skip
    assert first["status"] == 308 and isinstance(first["bytes"], int)
    assert first["client"] == first["forwarded_for"] == "127.0.0.1"
    assert first["user_agent"] == 't"ua'  # escaped by nginx, read back by the JSON parser
    assert re.fullmatch(r"[0-9a-f]{32}", first["request_id"])
    assert first["request_id"] != second["request_id"]
    assert "hunter2" not in lines[0] and first["request"] == "GET /accounts/login/?*** HTTP/1.0"
    assert "0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b" not in lines[1]
    assert second["request"] == "GET /accounts/reset/MQ/***/ HTTP/1.0"
