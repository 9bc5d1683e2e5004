"""tls_mode cloudflare: the origin certificate from the vault, Authenticated Origin Pulls, the real client
address from CF-Connecting-IP only when the TCP peer is a trusted (Cloudflare) address, and 80/443 open only
to the Cloudflare ranges in DOCKER-USER.

The host's own address on the stack's frontend network (172.30.80.1, where requests made on the host through
the published port come from) stands in for a Cloudflare edge (molecule-tls-cf.yml)."""

from __future__ import annotations

import http.server
import re
import socket
import ssl
import threading
import uuid
from typing import ClassVar

import pytest
from conftest import CF, CF_DOMAIN, PROJECT
from helpers import REPO, local_images, run_playbook

testinfra_hosts = [CF["name"]]

TRUSTED_PEER = "172.30.80.1"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REFRESH_PLAYBOOK = REPO / "molecule" / "tls" / "refresh-ranges.yml"
CURL = (
    "curl --silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 10"
    f" --resolve {CF_DOMAIN}:443:127.0.0.1 --cacert /root/pki/origin-ca.pem"
)
CLIENT = "--cert /root/pki/pull-client.pem --key /root/pki/pull-client.key"
ROGUE = "--cert /root/pki/rogue-client.pem --key /root/pki/rogue-client.key"


def status(host, options: str, path: str = "/readyz", headers: dict | None = None) -> str:
    extra = " ".join(f"--header '{k}: {v}'" for k, v in (headers or {}).items())
    result = host.run(f"{CURL} {options} {extra} https://{CF_DOMAIN}{path}")
    return result.stdout.strip() or f"curl rc {result.rc}: {result.stderr.strip()}"


def stack_logs(host, marker: str) -> list[str]:
    out = host.check_output(
        "docker compose --ansi never --project-name %s logs --no-color --no-log-prefix 2>&1", PROJECT
    )
    return [ANSI.sub("", line).strip() for line in out.splitlines() if marker in line]


def test_origin_certificate_served_and_valid_for_the_domain(host):
    # curl verifies the chain against the test Origin CA and the name.
    assert status(host, CLIENT) == "200"


def test_no_client_certificate_is_rejected(host):
    assert status(host, "") == "400"


def test_client_certificate_from_another_ca_is_rejected(host):
    assert status(host, ROGUE) == "400"


def test_real_client_ip_from_a_trusted_peer(host):
    marker = uuid.uuid4().hex
    assert status(host, CLIENT, f"/?probe={marker}", {"CF-Connecting-IP": "203.0.113.7"}) == "200"
    lines = stack_logs(host, marker)
    nginx = [line for line in lines if line.startswith(("203.0.113.7 ", f"{TRUSTED_PEER} "))]
    assert nginx and nginx[0].startswith("203.0.113.7 "), lines
    # The request reached the app with the restored address as X-Forwarded-For (nginx logs what it sent).
    assert " upstream=unix:/run/app/live/gunicorn.sock " in nginx[0], nginx
    assert " forwarded_for=203.0.113.7 " in nginx[0], nginx


PROBE = """
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="/pki/origin-ca.pem")
ctx.load_cert_chain("/pki/pull-client.pem", "/pki/pull-client.key")
with socket.create_connection(("nginx", 443), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=sys.argv[1]) as tls:
        tls.sendall(("GET /?probe=%s HTTP/1.1\\r\\nHost: %s\\r\\nCF-Connecting-IP: 198.51.100.9\\r\\n"
                     "Connection: close\\r\\n\\r\\n" % (sys.argv[2], sys.argv[1])).encode())
        print(tls.recv(64).decode().split("\\r\\n")[0])
"""


def test_forged_cf_connecting_ip_from_an_untrusted_peer_is_ignored(host):
    """A container on the frontend network is not a trusted peer: its CF-Connecting-IP is ignored, and nginx
    sends the app the container's own address."""
    marker = uuid.uuid4().hex
    # The stack's certbot image has Python (the nginx image has none).
    result = host.run(
        "docker run --rm --network %s_frontend --volume /root/pki:/pki:ro"
        " --entrypoint python3 %s -c %s %s %s",
        PROJECT,
        local_images()["CERTBOT_IMAGE"],
        PROBE,
        CF_DOMAIN,
        marker,
    )
    assert result.rc == 0 and "200" in result.stdout, (result.stdout, result.stderr)
    lines = stack_logs(host, marker)
    nginx = [line for line in lines if line.split(" ", 1)[0].count(".") == 3 and " - " in line]
    assert nginx, lines
    peer = nginx[0].split(" ", 1)[0]
    assert peer.startswith("172.30.80.") and peer != TRUSTED_PEER, nginx
    assert "198.51.100.9" not in nginx[0].split(" ", 1)[0]
    # The app received the container's own address as X-Forwarded-For, not the forged one.
    assert " upstream=unix:/run/app/live/gunicorn.sock " in nginx[0], nginx
    assert f" forwarded_for={peer} " in nginx[0], nginx
    assert "198.51.100.9" not in nginx[0]


def test_docker_user_accepts_web_ports_only_from_cloudflare(host):
    rules = host.check_output("iptables -S DOCKER-USER").splitlines()
    rules6 = host.check_output("ip6tables -S DOCKER-USER").splitlines()
    assert any("-s 173.245.48.0/20" in r and "--ctorigdstport 443" in r for r in rules), rules
    assert any("-s 2400:cb00::/32" in r and "--ctorigdstport 443" in r for r in rules6), rules6
    web = [r for r in rules + rules6 if re.search(r"--ctorigdstport (80|443) ", r)]
    # Every accepting rule for 80/443 names a source: nothing else is let through.
    assert web and all(" -s " in r for r in web), web
    # The firewall's sources are, by default, the very ranges nginx trusts for CF-Connecting-IP.
    sources = {re.search(r" -s (\S+)", r).group(1) for r in web if "--ctorigdstport 443 " in r}
    site = host.file(f"/srv/{PROJECT}/nginx/conf.d/site.conf").content_string
    trusted = set(re.findall(r"^set_real_ip_from (\S+);$", site, re.MULTILINE))
    assert sources == trusted, sources ^ trusted


@pytest.mark.parametrize("port", [CF["http"], CF["https"]])
def test_control_node_outside_the_cloudflare_ranges_is_dropped(host, port):
    # From the control node the connection arrives on the host's external interface from Docker's bridge
    # gateway, which is not a Cloudflare address: DOCKER-USER drops it. (The same request made on the host
    # succeeds: test_origin_certificate_served_and_valid_for_the_domain.)
    context = ssl._create_unverified_context()  # noqa: S323 - only reachability is tested
    with (
        pytest.raises((OSError, ssl.SSLError)),
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
    ):
        if port == CF["https"]:
            # A completed TLS handshake means nginx was reached.
            with context.wrap_socket(raw, server_hostname=CF_DOMAIN):
                pass
        else:
            raw.sendall(f"GET / HTTP/1.0\r\nHost: {CF_DOMAIN}\r\n\r\n".encode())
            if not raw.recv(1):
                raise ConnectionError("closed")


class _Lists(http.server.BaseHTTPRequestHandler):
    """Serves the lists of one test case: /<case>/v4 and /<case>/v6."""

    lists: ClassVar[dict[str, dict[str, str]]] = {
        "good": {"v4": "173.245.48.0/20\n103.21.244.0/22\n", "v6": "2400:cb00::/32\n"},
        "empty": {"v4": "\n", "v6": ""},
        "malformed": {"v4": "173.245.48.0/20\n<html>rate limited</html>\n", "v6": "2400:cb00::/32\n"},
    }

    def do_GET(self) -> None:
        case, family = self.path.strip("/").split("/")
        body = self.lists[case][family].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def lists_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lists)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _refresh(base: str, case: str):
    return run_playbook(
        REFRESH_PLAYBOOK,
        {
            "tls_cloudflare_ip_ranges_refresh": True,
            "tls_cloudflare_ip_ranges_urls": [f"{base}/{case}/v4", f"{base}/{case}/v6"],
        },
        limit=CF["name"],
        timeout=300,
    )


def test_range_refresh_uses_a_valid_list(lists_server):
    result = _refresh(lists_server, "good")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "RANGES=173.245.48.0/20,103.21.244.0/22,2400:cb00::/32" in result.stdout


@pytest.mark.parametrize("case", ["empty", "malformed"])
def test_range_refresh_refuses_an_empty_or_malformed_list(lists_server, case):
    result = _refresh(lists_server, case)
    assert result.returncode != 0
    assert "tls_cloudflare_ip_ranges_refresh" in result.stdout
    assert "RANGES=" not in result.stdout
