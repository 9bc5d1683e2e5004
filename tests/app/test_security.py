"""Security headers, HTTPS handling behind the proxy, cookies, and a CSP the admin can live with."""

import json
import re
from html.parser import HTMLParser

import pytest
from conftest import PROXIED_HTTPS
from django.conf import settings
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db

HTTPS = {"headers": PROXIED_HTTPS}

EXPECTED_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "manifest-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "report-uri": "/csp-report/",
    "report-to": "csp",
}


def parse_csp(header):
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


def test_plain_http_is_redirected_to_https(client):
    response = client.get("/admin/login/", headers={"host": "testserver"})
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"


def test_https_responses_carry_the_security_headers(https_client):
    response = https_client.get("/")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"  # no preload
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Reporting-Endpoints"] == 'csp="/csp-report/"'
    policy = dict(item.split("=", 1) for item in response["Permissions-Policy"].split(", "))
    assert {"camera", "microphone", "geolocation", "payment", "usb"} <= policy.keys()
    assert set(policy.values()) == {"()"}, "a feature is allowed to some origin"
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP


@pytest.mark.parametrize("path", ["/healthz", "/no-such-page/"])
def test_health_answers_and_errors_carry_the_cross_origin_headers(https_client, path):
    response = https_client.get(path)
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_csp_reports_are_logged_in_both_formats_without_query_strings(client, caplog):
    legacy = {
        "csp-report": {
            "document-uri": "https://testserver/accounts/reset/MQ/abc-123/?token=secret",
            "violated-directive": "script-src-elem",
            "blocked-uri": "inline",
        }
    }
    modern = [
        {
            "type": "csp-violation",
            "body": {
                "documentURL": "https://testserver/admin/",
                "effectiveDirective": "img-src\nWARNING forged line",
                "blockedURL": "https://evil.example/pixel.gif?id=1",
            },
        }
    ]
    for payload, content_type in ((legacy, "application/csp-report"), (modern, "application/reports+json")):
        response = client.post("/csp-report/", json.dumps(payload), content_type=content_type, **HTTPS)
        assert response.status_code == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "core.views" and r.levelname == "WARNING"]
    assert lines == [
        "CSP violation: script-src-elem blocked inline on https://testserver/accounts/reset/MQ/abc-123/",
        "CSP violation: img-src\\nWARNING forged line blocked https://evil.example/pixel.gif on "
        "https://testserver/admin/",
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param("not json", 400, id="not-json"),
        pytest.param(json.dumps({"unrelated": 1}), 400, id="not-a-report"),
        pytest.param(json.dumps({"csp-report": {"x": "y" * 20000}}), 413, id="too-large"),
    ],
)
def test_csp_report_endpoint_refuses_what_is_not_a_report(client, caplog, body, status):
    response = client.post("/csp-report/", body, content_type="application/csp-report", **HTTPS)
    assert response.status_code == status
    assert not [r for r in caplog.records if r.name == "core.views"]
    assert client.get("/csp-report/", **HTTPS).status_code == 405


@pytest.mark.parametrize("path", ["/admin/login/", "/accounts/login/", "/no-such-page/"])
def test_csp_on_every_kind_of_page(https_client, path):
    response = https_client.get(path)
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_forwarded_proto_from_nginx_makes_cookies_secure(https_client):
    response = https_client.get("/")  # the landing form sets the CSRF cookie
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert cookie["secure"]
    assert cookie["samesite"] == "Lax"


def test_unknown_host_is_rejected(https_client):
    response = https_client.get("/", headers={"host": "evil.example"})
    assert response.status_code == 400


def test_x_forwarded_host_is_not_trusted(django_user_model):
    """Password-reset links are built from the Host header; a forged X-Forwarded-Host must not
    redirect them to an attacker's domain."""
    django_user_model.objects.create_user("ivan", "ivan@example.org", "pw-irrelevant-here-123")
    client = Client(headers={**PROXIED_HTTPS, "X-Forwarded-Host": "evil.example"})
    response = client.post("/accounts/password_reset/", {"email": "ivan@example.org"})
    assert response.status_code == 302
    assert "https://testserver/accounts/reset/" in mail.outbox[0].body
    assert "evil.example" not in mail.outbox[0].body


class InlineCodeFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: inline scripts (executable types
    only), style elements and attributes, event-handler attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        executable = attributes.get("type", "text/javascript") in ("text/javascript", "module", "")
        if tag == "script" and "src" not in attributes and executable:
            self._in_script = True
        if tag == "style":
            self.problems.append("<style> element")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def inline_code(html):
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.problems


def test_inline_code_finder_detects_what_csp_blocks():
    assert inline_code('<script>alert(1)</script><p style="x" onclick="y">') == [
        "inline script: 'alert(1)'",
        "style attribute on <p>",
        "onclick handler on <p>",
    ]
    assert (
        inline_code('<script src="/static/a.js"></script><script type="application/json">{}</script>') == []
    )


def test_admin_pages_work_under_the_csp(admin_user):
    """Django 5.2's admin ships no inline scripts or styles; these pages prove it for this setup."""
    client = Client(headers=PROXIED_HTTPS)
    assert not inline_code(client.get("/admin/login/").content.decode())
    client.force_login(admin_user)
    pages = [
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        f"/admin/auth/user/{admin_user.pk}/change/",
        "/admin/auth/group/add/",
        "/admin/password_change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert inline_code(response.content.decode()) == [], page
        # Every script the admin loads is same-origin, which script-src 'self' allows.
        for src in re.findall(r'<script[^>]+src="([^"]+)"', response.content.decode()):
            assert src.startswith("/"), (page, src)
