"""Header gate: the responses of the deployed site (ACME host, through 127.0.0.1) scored with the rules of
Mozilla's HTTP Observatory (observatory.py) must reach the A+ band; security headers are on error pages too,
and HSTS is sent exactly once, only over HTTPS."""

from __future__ import annotations

import http.client
import socket
import ssl

import pytest
from conftest import ACME, ACME_DOMAIN
from helpers import http_get
from observatory import Page, score

testinfra_hosts = [ACME["name"]]

HTTPS_HOST = f"{ACME_DOMAIN}:{ACME['https']}"


def fetch(path: str) -> tuple[int, list[tuple[str, str]], str]:
    """GET over HTTPS with the site's SNI and Host; every header line kept (duplicates matter here)."""
    context = ssl._create_unverified_context()  # noqa: S323 - test_acme.py checks the certificate chain
    with (
        socket.create_connection(("127.0.0.1", ACME["https"]), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=ACME_DOMAIN) as sock,
    ):
        conn = http.client.HTTPConnection(ACME_DOMAIN, ACME["https"], timeout=10)
        conn.sock = sock
        conn.request("GET", path, headers={"Host": HTTPS_HOST, "User-Agent": "observatory-rules"})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read().decode("utf-8", "replace")


def page(path: str) -> Page:
    status, headers, body = fetch(path)
    assert status == 200, (path, status)
    redirect = http_get(path, port=ACME["http"], host_header=f"{ACME_DOMAIN}:{ACME['http']}", tls=False)
    location = redirect.header("Location") if 300 <= redirect.status < 400 else None
    return Page(
        url=f"https://{HTTPS_HOST}{path}", headers=headers, body=body, http_redirect_location=location
    )


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_observatory_grade_a_plus(path):
    result = score(page(path))
    report = "\n".join(f"  {test}: {name} ({mod:+d})" for test, (name, mod) in result.results.items())
    print(f"{path}: score {result.score}, grade {result.grade}\n{report}")
    assert result.grade == "A+", f"{path}: score {result.score} ({result.grade})\n{report}"
    # Nothing may cost points: a penalty hidden by bonuses is still a regression.
    assert [t for t, (_, mod) in result.results.items() if mod < 0] == [], report


@pytest.mark.parametrize(
    "path",
    [
        "/",  # Django
        "/no-such-page/",  # Django's 404
        "/static/no-such-file.css",  # nginx's own 404 (static.conf)
        "/media/no-such-file.png",  # nginx's own 404
    ],
)
def test_security_headers_on_pages_and_error_pages(path):
    status, headers, _ = fetch(path)
    assert status in (200, 404), (path, status)
    names = [k.lower() for k, _ in headers]
    hsts = [v for k, v in headers if k.lower() == "strict-transport-security"]
    assert hsts == ["max-age=63072000; includeSubDomains"], (path, hsts)
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"):
        assert names.count(name) == 1, (path, name, names.count(name))


def test_no_hsts_over_plain_http():
    for path in ("/", "/.well-known/acme-challenge/x", "/static/x.css"):
        resp = http_get(path, port=ACME["http"], host_header=ACME_DOMAIN, tls=False)
        assert resp.header("Strict-Transport-Security") == "", path
        assert resp.status in (308, 404), (path, resp.status)


def test_server_version_not_disclosed():
    _, headers, _ = fetch("/")
    server = [v for k, v in headers if k.lower() == "server"]
    assert server in ([], ["nginx"]), server


def test_nginx_error_page_when_the_app_is_unreachable_has_the_headers(host):
    """nginx's own 502 (the app refuses connections) carries the security headers and one HSTS header."""
    containers = host.check_output(
        "docker ps -q --filter label=com.docker.compose.project=djangoapp"
        " --filter label=com.docker.compose.service=web"
        " ; docker ps -q --filter label=com.docker.compose.project=djangoapp"
        " --filter label=com.docker.compose.service=web-green"
    ).split()
    assert containers, "no web container"
    # gunicorn's port refuses connections inside the web containers' network namespaces, for a moment.
    rule = "INPUT -p tcp --dport 8000 -j REJECT --reject-with tcp-reset"
    pids = [host.check_output("docker inspect --format '{{.State.Pid}}' %s", c) for c in containers]
    try:
        for pid in pids:
            host.check_output(f"nsenter --target {pid} --net iptables -I {rule}")
        status, headers, _ = fetch("/readyz")
    finally:
        for pid in pids:
            host.run(f"nsenter --target {pid} --net iptables -D {rule}")
    assert status == 502
    names = [k.lower() for k, _ in headers]
    hsts = [v for k, v in headers if k.lower() == "strict-transport-security"]
    assert hsts == ["max-age=63072000; includeSubDomains"]
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"):
        assert names.count(name) == 1, (name, names)
    # The app answers again.
    assert fetch("/readyz")[0] == 200
