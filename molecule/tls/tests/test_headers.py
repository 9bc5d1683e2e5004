"""Header gate: the responses of the deployed site (ACME host, through 127.0.0.1) scored with the rules of the
MDN HTTP Observatory (observatory.py, a port of its analysis) must reach 135 with no rule costing points;
security headers are on error pages too, and HSTS is sent exactly once, only over HTTPS."""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

import pytest
from conftest import ACME, ACME_DOMAIN, pebble_roots
from helpers import http_get
from observatory import Site, score

testinfra_hosts = [ACME["name"]]

HTTPS_HOST = f"{ACME_DOMAIN}:{ACME['https']}"
MINIMUM_SCORE = 135


def fetch(
    path: str, method: str = "GET", headers: dict[str, str] | None = None, cadata: str | None = None
) -> tuple[int, list[tuple[str, str]], str]:
    """One HTTPS request with the site's SNI and Host; every header line kept (duplicates matter here). With
    `cadata`, the chain must verify against it (ssl.SSLCertVerificationError otherwise)."""
    context = ssl.create_default_context(cadata=cadata) if cadata else ssl._create_unverified_context()  # noqa: S323
    with (
        socket.create_connection(("127.0.0.1", ACME["https"]), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=ACME_DOMAIN) as sock,
    ):
        conn = http.client.HTTPConnection(ACME_DOMAIN, ACME["https"], timeout=10)
        conn.sock = sock
        sent = {"Host": HTTPS_HOST, "User-Agent": "observatory-rules", **(headers or {})}
        conn.request(method, path, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read().decode("utf-8", "replace")


def http_route(path: str) -> list[str]:
    """The http:// URL of `path`, then each redirect target while it stays on plain HTTP (at most 5 hops)."""
    route = [f"http://{ACME_DOMAIN}:{ACME['http']}{path}"]
    while len(route) <= 5 and urlsplit(route[-1]).scheme == "http":
        target = urlsplit(route[-1])
        reply = http_get(target.path or "/", port=ACME["http"], host_header=target.netloc, tls=False)
        if not 300 <= reply.status < 400:
            break
        route.append(reply.header("Location"))
    return route


def site(host, path: str) -> Site:
    """What the Observatory's retriever collects for the site's `path`: the response over a chain verified
    against the ACME server's root, the HTTP redirect route, and the answer to a CORS preflight."""
    try:
        status, headers, body = fetch(path, cadata=pebble_roots(host))
        verified = True
    except ssl.SSLCertVerificationError:
        status, headers, body = fetch(path)
        verified = False
    cors_origin = "https://http-observatory.security.mozilla.org"
    preflight = {"Origin": cors_origin, "Access-Control-Request-Method": "GET"}
    _, cors_headers, _ = fetch(path, "OPTIONS", preflight)
    return Site(
        url=f"https://{HTTPS_HOST}{path}",
        status=status,
        headers=headers,
        body=body,
        verified=verified,
        http_route=http_route(path),
        cors_headers=cors_headers,
        cors_origin=cors_origin,
    )


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_observatory_score(host, path):
    result = score(site(host, path))
    print(f"{path}: score {result.score}, grade {result.grade}\n{result.report()}")
    assert result.score >= MINIMUM_SCORE, f"{path}: score {result.score} ({result.grade})\n{result.report()}"
    # Nothing may cost points: a penalty hidden by bonuses is still a regression.
    assert [t for t, mod in result.modifiers.items() if mod < 0] == [], result.report()


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
    """nginx's own 502 (no gunicorn behind the upstream socket) carries the security headers and one HSTS
    header."""
    live = "/srv/djangoapp/run/live"
    serving = host.check_output(f"readlink {live}")
    assert serving, "no link to the serving slot"
    # nginx follows the link at every connect: pointed nowhere for a moment, it has no app to reach.
    try:
        host.check_output(f"ln -sfn nowhere {live}.test && mv -T {live}.test {live}")
        status, headers, _ = fetch("/readyz")
    finally:
        host.check_output(f"ln -sfn {serving} {live}.test && mv -T {live}.test {live}")
    assert status == 502
    names = [k.lower() for k, _ in headers]
    hsts = [v for k, v in headers if k.lower() == "strict-transport-security"]
    assert hsts == ["max-age=63072000; includeSubDomains"]
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"):
        assert names.count(name) == 1, (name, names)
    # The app answers again.
    assert fetch("/readyz")[0] == 200
