"""The Compose stack on the local Docker engine, probed through nginx: one stack for the session
(stack_support.running_stack).

    pytest -m stack tests/stack
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import requests
from stack_support import DOMAIN, HASHED_STATIC, ROOT, SCRIPT, UNKNOWN_HOST, Stack, run, running_stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


# --- nginx configuration (no stack needed) -------------------------------------------------------------


def test_render_writes_the_nginx_role_templates(tmp_path):
    run([str(SCRIPT), "render-nginx", str(tmp_path), "localhost www.localhost", "8443"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.conf"]
    site = (tmp_path / "site.conf").read_text()
    assert "server_name localhost www.localhost;" in site
    assert "return 308 https://$host:8443$request_uri;" in site
    assert "include /etc/nginx/snippets/maintenance.conf;" in site
    assert "server unix:/run/app/live/gunicorn.sock;" in site


def test_render_refuses_config_injection(tmp_path):
    injected = "example.com; include /etc/passwd"
    result = run([str(SCRIPT), "render-nginx", str(tmp_path / "out"), injected], check=False)
    assert result.returncode != 0
    assert not (tmp_path / "out").exists()


# --- the running stack ---------------------------------------------------------------------------------


def test_landing_page_is_russian(stack):
    po = (ROOT / "app" / "locale" / "ru" / "LC_MESSAGES" / "django.po").read_text()
    welcome = re.search(r'msgid "Welcome"\nmsgstr "([^"]+)"', po).group(1)
    response = stack.get("/")
    assert response.status_code == 200
    assert '<html lang="ru">' in response.text
    assert welcome in response.text
    assert response.headers["Content-Language"] == "ru"


def test_release_label_reaches_the_client(stack):
    response = stack.get("/healthz")
    assert response.status_code == 200
    assert response.json()["release"] == stack.release
    assert response.headers["X-App-Release"] == stack.release


def test_admin_login_page(stack):
    response = stack.get("/admin/login/")
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in response.text


def test_readyz(stack):
    response = stack.get("/readyz")
    assert response.status_code == 200, response.text


def test_hashed_static_file_is_served_by_nginx_alone(stack):
    page = stack.get("/").text
    match = HASHED_STATIC.search(page)
    assert match, "no hashed stylesheet referenced by the landing page"
    path = match.group(0)
    baseline = stack.proxied()

    response = stack.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    # The precompressed .gz of collectstatic (gzip_static), not compressed on the fly: on-the-fly gzip
    # streams without a Content-Length and with a weak ETag.
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) > 0
    assert not response.headers["ETag"].startswith("W/")
    cache_control = [v.strip() for v in response.headers["Cache-Control"].split(",")]
    assert "immutable" in cache_control
    assert "max-age=31536000" in cache_control
    assert "Expires" not in response.headers  # one lifetime, said once
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    # A dynamic request is logged by nginx as answered by web's gunicorn, with its release (the probe works),
    probe = secrets.token_hex(4)
    assert stack.get(f"/?probe={probe}").status_code == 200
    dynamic = stack.logged(probe)
    assert (dynamic["upstream"], dynamic["release"]) == (stack.web_upstream(), stack.release), dynamic
    # and nothing but the probe was passed to gunicorn: nginx answered the static request alone.
    after = stack.proxied()
    assert len(after) == len(baseline) + 1, after[len(baseline) :]
    assert not any(path in entry["request"] for entry in after)


def test_secrets_in_urls_are_masked_in_nginx_access_log(stack):
    """A password-reset token and a secret-looking query parameter, in the request and in the Referer."""
    probe = secrets.token_hex(4)
    token = f"cfz1ab-{secrets.token_hex(16)}"  # Django's shape: base36 timestamp, hex signature
    secret = secrets.token_hex(8)
    stack.get(f"/accounts/reset/MQ/{token}/?probe=reset-{probe}")
    referer = f"https://{DOMAIN}/accounts/reset/MQ/{token}/?password={secret}"
    stack.get(f"/probe-{probe}/?page=2&api_key={secret}", headers={"Referer": referer})

    reset, query = stack.logged(f"reset-{probe}")["line"], stack.logged(f"/probe-{probe}/")["line"]
    assert f'"GET /accounts/reset/MQ/***/?probe=reset-{probe} HTTP/1.1"' in reset, reset
    assert f'"GET /probe-{probe}/?*** HTTP/1.1"' in query, query
    assert f'"https://{DOMAIN}/accounts/reset/MQ/***/?***"' in query, query
    for line in (reset, query):
        assert token not in line
        assert secret not in line


def test_unhashed_static_names_are_not_cached_forever(stack):
    response = stack.get("/static/css/site.css")
    assert response.status_code == 200
    assert "immutable" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/static/css/missing.css", "/static/css/missing.0123456789ab.css"])
def test_a_missing_static_file_is_not_cached(stack, path):
    # The next release may bring the file: a cached 404 would hide it for an hour (or a year).
    response = stack.get(path)
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_the_favicon_is_answered_by_nginx(stack):
    baseline = len(stack.proxied())
    response = stack.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert len(stack.proxied()) == baseline, "the favicon request reached gunicorn"


def test_media_is_served_by_nginx_from_the_shared_volume(stack):
    name = f"probe-{secrets.token_hex(4)}.txt"
    stack.compose("exec", "-T", "web", "sh", "-c", f"printf media-ok > /srv/media/{name}")
    response = stack.get(f"/media/{name}")
    assert response.status_code == 200
    assert response.text == "media-ok"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers(stack):
    for path in ("/", "/admin/login/"):
        response = stack.get(path)
        assert response.status_code == 200
        hsts = response.raw.headers.getlist("Strict-Transport-Security")
        assert len(hsts) == 1, hsts
        # A localhost site gets minutes, not years (nginx_hsts): browsers would force HTTPS on every
        # http://localhost:* development server for two years.
        assert hsts == ["max-age=300"]
        csp = response.headers["Content-Security-Policy"]
        assert "default-src" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert "camera=()" in response.headers["Permissions-Policy"]
        assert response.headers["Server"] == "nginx"  # server_tokens off: no version


def test_http_redirects_to_https_with_308(stack):
    response = requests.get(
        f"http://{DOMAIN}:{stack.http_port}/admin/?next=1", allow_redirects=False, timeout=10
    )
    assert response.status_code == 308
    assert response.headers["Location"] == stack.https("/admin/?next=1")


def test_acme_challenge_is_answered_over_http(stack):
    token = secrets.token_urlsafe(16)
    challenge = stack.state / "acme" / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True, exist_ok=True)
    (challenge / token).write_text("key-authorization")
    (challenge / token).chmod(0o644)
    for directory in (challenge, challenge.parent):
        directory.chmod(0o755)
    url = f"http://{DOMAIN}:{stack.http_port}/.well-known/acme-challenge/{token}"
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.text == "key-authorization"


def _raw_request(sock: socket.socket, host: str) -> bytes:
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_unknown_host_is_rejected_over_http(stack):
    before = stack.proxied()
    with socket.create_connection(("127.0.0.1", stack.http_port), timeout=10) as sock:
        assert _raw_request(sock, UNKNOWN_HOST) == b""  # 444: closed without an answer
    # The known host gets an answer on the same port (the test above is not vacuous).
    with socket.create_connection(("127.0.0.1", stack.http_port), timeout=10) as sock:
        assert _raw_request(sock, DOMAIN).startswith(b"HTTP/1.1 308")
    time.sleep(1)
    assert stack.proxied() == before


def test_unknown_sni_is_rejected_at_the_tls_handshake(stack):
    context = stack.tls_context()
    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as sock,
        pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME"),
    ):
        context.wrap_socket(sock, server_hostname=UNKNOWN_HOST)


def test_unknown_host_header_behind_a_known_sni_is_rejected(stack):
    before = stack.proxied()
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        stack.tls_context().wrap_socket(raw, server_hostname=DOMAIN) as sock,
    ):
        assert _raw_request(sock, UNKNOWN_HOST) == b""
    time.sleep(1)
    assert stack.proxied() == before


def test_http2_is_negotiated(stack):
    context = stack.tls_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=DOMAIN) as sock,
    ):
        assert sock.selected_alpn_protocol() == "h2"
        assert sock.version() == "TLSv1.3"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_only_tls_12_and_13_are_accepted(stack):
    def handshake(version: ssl.TLSVersion, maximum: ssl.TLSVersion) -> str:
        context = stack.tls_context()
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer old versions: nginx must refuse
        context.minimum_version, context.maximum_version = version, maximum
        with (
            socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as sock,
        ):
            return sock.version()

    assert handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
        handshake(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)


def _post_status(stack, content_length: int, body: bytes = b"") -> int:
    conn = http.client.HTTPSConnection(DOMAIN, stack.https_port, context=stack.tls_context(), timeout=15)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(content_length))
        conn.endheaders()
        if body:
            conn.send(body)
        return conn.getresponse().status
    finally:
        conn.close()


def test_body_above_the_limit_is_refused_by_nginx(stack):
    # nginx answers from the Content-Length alone, before reading (or forwarding) a byte of the body.
    assert _post_status(stack, 11 * 1024 * 1024) == 413
    # Below the limit the request reaches Django, which refuses it for its own reason (no CSRF token).
    assert _post_status(stack, 1024 * 1024, b"x" * (1024 * 1024)) == 403


def test_twenty_wrong_passwords_are_locked_by_django_then_throttled_by_nginx(stack):
    session = requests.Session()
    url = stack.https("/accounts/login/")
    form = session.get(url, verify=stack.cafile, timeout=15).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    username = f"guess-{secrets.token_hex(3)}"
    answers = []
    for n in range(20):
        response = session.post(
            url,
            data={"username": username, "password": f"wrong-{n}", "csrfmiddlewaretoken": token},
            headers={"Referer": url},
            verify=stack.cafile,
            timeout=15,
            allow_redirects=False,
        )
        answers.append((response.status_code, response.headers.get("Retry-After"), response.text))
    # Django's lockout (django-axes) answers the 5th failure; the login throttle of nginx (a burst of 5 above
    # 10/min) stops the rest before they reach gunicorn and its password hashing.
    statuses = [status for status, _, _ in answers]
    assert statuses == [200] * 4 + [429] * 16, statuses
    by_django = [a for a in answers[4:] if "Слишком много неудачных попыток входа" in a[2]]
    by_nginx = [a for a in answers[4:] if "Слишком много запросов" in a[2]]
    assert by_django and {retry for _, retry, _ in by_django} == {"900"}
    assert len(by_nginx) >= 12 and {retry for _, retry, _ in by_nginx} == {"60"}
    assert len(by_django) + len(by_nginx) == 16
    # Only POSTs are counted: the form itself still loads.
    assert session.get(url, verify=stack.cafile, timeout=15).status_code == 200
    # The lockout is in the app's log, naming the address nginx saw (and passed on in X-Real-IP).
    posts = [e for e in stack.nginx_access() if e["request"].startswith("POST /accounts/login/")]
    client = posts[0]["client"]
    web_log = stack.compose("logs", "--no-color", "--no-log-prefix", "web").stdout
    assert any("Locking out" in line and f'ip_address: "{client}"' in line for line in web_log.splitlines())


def test_one_address_gets_a_bounded_number_of_requests_in_flight(stack):
    # 100 requests held open by bodies that never finish (the limit, nginx_conn_per_ip), then one more.
    held = []
    try:
        for _ in range(100):
            conn = http.client.HTTPSConnection(
                DOMAIN, stack.https_port, context=stack.tls_context(), timeout=15
            )
            conn.putrequest("POST", "/")
            conn.putheader("Content-Length", "1000")
            conn.endheaders()
            held.append(conn)
        time.sleep(1)  # nginx has read every held request's header
        one_more = requests.get(stack.https("/"), verify=stack.cafile, timeout=15)
        assert one_more.status_code == 429
        assert one_more.headers["Retry-After"] == "60"
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 15
    while (status := stack.get("/").status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200, "the connection limit outlived the connections"


def test_maintenance_page_answers_posts_too(stack):
    flag = stack.state / "nginx" / "maintenance" / "enabled"
    flag.write_text("stack test\n")
    try:
        for method in ("GET", "POST"):
            url = stack.https("/accounts/login/")
            response = requests.request(method, url, verify=stack.cafile, timeout=15)
            assert response.status_code == 503, method
            assert "Down for maintenance" in response.text
            assert response.headers["Retry-After"] == "120"
        # nginx's own pages are internal: not reachable by their URI.
        flag.unlink()
        assert stack.get("/_nginx/maintenance.html").status_code == 404
    finally:
        flag.unlink(missing_ok=True)


def test_forwarded_for_is_set_by_nginx_not_by_the_client(stack):
    probe = secrets.token_hex(4)
    stack.get(f"/?xff={probe}", headers={"X-Forwarded-For": "203.0.113.66"})
    entry = stack.logged(probe)
    # Passed to web, with the connection's address as X-Forwarded-For: the client's header is not in the line.
    assert entry["upstream"] == stack.web_upstream(), entry
    assert entry["forwarded_for"] == entry["client"], entry
    assert "203.0.113.66" not in entry["line"]


def test_only_nginx_publishes_ports(stack):
    containers = stack.containers()
    assert set(containers) == {"db", "migrate", "web", "nginx"}
    for service, container in containers.items():
        bindings = {
            port: binds for port, binds in (container["HostConfig"]["PortBindings"] or {}).items() if binds
        }
        if service == "nginx":
            published = {
                port: {(b["HostIp"], int(b["HostPort"])) for b in binds} for port, binds in bindings.items()
            }
            assert published == {
                "80/tcp": {("127.0.0.1", stack.http_port)},
                "443/tcp": {("127.0.0.1", stack.https_port)},
            }
        else:
            assert bindings == {}, f"{service} publishes {bindings}"
    # The same seen from Compose.
    out = stack.compose("ps", "--all", "--format", "json").stdout.strip()
    rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines()]
    for row in rows:
        published = [p for p in row.get("Publishers") or [] if p.get("PublishedPort")]
        assert bool(published) == (row["Service"] == "nginx"), row


def test_networks_isolate_db_from_nginx(stack):
    containers = stack.containers()
    networks = {
        service: {name.rsplit("_", 1)[-1] for name in container["NetworkSettings"]["Networks"]}
        for service, container in containers.items()
    }
    # `monitoring`: Prometheus's scrapes of web's metrics port and of nginx's stub_status; db is not on it.
    assert networks["nginx"] == {"frontend", "monitoring"}
    assert networks["db"] == {"backend"}
    assert networks["web"] == {"frontend", "backend", "monitoring"}
    probe = stack.compose("exec", "-T", "nginx", "bash", "-c", "exec 3<>/dev/tcp/db/5432", check=False)
    assert probe.returncode != 0


def test_db_is_unreachable_from_the_host(stack):
    """The host has no route of its own to db: `internal` alone still puts a host address on the backend
    bridge unless IPv4 is inhibited there. Checked by routing, without sending a packet, because a packet
    to a private address the host does not route itself would leave this machine."""
    db = stack.containers()["db"]
    addresses = [net["IPAddress"] for net in db["NetworkSettings"]["Networks"].values() if net["IPAddress"]]
    assert addresses, "db has no address"
    for address in addresses:
        route = run(["ip", "-4", "-o", "route", "get", address]).stdout
        assert not re.search(r"\bdev (docker0|br-)", route), f"host routes to db via a bridge: {route}"


def test_db_is_healthy_and_migrate_succeeded(stack):
    containers = stack.containers()
    assert containers["db"]["State"]["Health"]["Status"] == "healthy"
    assert containers["migrate"]["State"]["Status"] == "exited"
    assert containers["migrate"]["State"]["ExitCode"] == 0
    for service in ("web", "nginx"):
        assert containers[service]["State"]["Health"]["Status"] == "healthy", service


def test_containers_are_hardened_and_sized(stack):
    containers = stack.containers()
    limits = {"db": 256, "web": 384, "nginx": 64, "migrate": 256}
    for service, container in containers.items():
        host = container["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert "ALL" in host["CapDrop"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["Memory"] == limits[service] * 1024 * 1024, service
        assert host["LogConfig"]["Type"] == "json-file", service
        assert host["LogConfig"]["Config"].get("max-size"), service
        expected_restart = "no" if service == "migrate" else "unless-stopped"
        assert host["RestartPolicy"]["Name"] == expected_restart, service
    assert containers["web"]["Config"]["User"] == "10001:10001"
    assert containers["web"]["HostConfig"]["CapAdd"] in (None, [])
