"""The header scorer of the tls scenario (molecule/tls/tests/observatory.py) against the expectations of the
MDN HTTP Observatory's own test suite (test/*.test.js of @mdn/mdn-http-observatory 1.6.3): the port must
judge the same headers the same way, or its gate means nothing."""

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "molecule" / "tls" / "tests" / "observatory.py"
_spec = importlib.util.spec_from_file_location("observatory", PATH)
observatory = sys.modules["observatory"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(observatory)

HASH = "'sha256-hqBEA/HXB3aJU2FgOnYN8rkAgEVgyfi3Vs1j2/XMPBA='"


def site(*headers, body="", status=200, verified=True, route=("http://mozilla.org/", "https://mozilla.org/")):
    return observatory.Site(
        url="https://mozilla.org/",
        status=status,
        headers=list(headers),
        body=body,
        verified=verified,
        http_route=None if route is None else list(route),
    )


def csp(value):
    return observatory.content_security_policy(site(("Content-Security-Policy", value)))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("  ", "csp-header-invalid"),
        ("default-src 'none'; default-src 'none'", "csp-header-invalid"),
        ("default-src 'none'; script-src 'strict-dynamic'", "csp-header-invalid"),
        ("defa", "csp-header-invalid"),
        ("default-src 'none'; script-src https://*", "csp-implemented-with-unsafe-inline"),
        ("default-src 'none'; script-src 'unsafe-inline'", "csp-implemented-with-unsafe-inline"),
        ("script-src 'none'", "csp-implemented-with-unsafe-inline"),  # object-src unrestricted
        ("upgrade-insecure-requests", "csp-implemented-with-unsafe-inline"),
        ("default-src 'UNSAFE-INLINE'", "csp-implemented-with-unsafe-inline"),
        ("default-src *; script-src *; object-src 'none'", "csp-implemented-with-unsafe-inline"),
        ("default-src http://mozilla.org", "csp-implemented-with-insecure-scheme"),
        ("default-src 'none'; script-src ftp://mozilla.org", "csp-implemented-with-insecure-scheme"),
        ("default-src 'none'; script-src 'unsafe-eval'", "csp-implemented-with-unsafe-eval"),
        (
            "default-src 'none'; img-src http://mozilla.org",
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
        ),
        ("default-src 'self'; img-src ftp:", "csp-implemented-with-insecure-scheme-in-passive-content-only"),
        (
            "object-src 'none'; script-src 'none'; style-src 'unsafe-inline'",
            "csp-implemented-with-unsafe-inline-in-style-src-only",
        ),
        (
            "default-src 'none';;; ;;;style-src 'self' 'unsafe-inline'",
            "csp-implemented-with-unsafe-inline-in-style-src-only",
        ),
        ("default-src 'none'; style-src https:", "csp-implemented-with-unsafe-inline-in-style-src-only"),
        ("default-src https://mozilla.org", "csp-implemented-with-no-unsafe"),
        (f"object-src 'none'; style-src 'self'; script-src {HASH}", "csp-implemented-with-no-unsafe"),
        (
            "object-src 'none'; script-src 'strict-dynamic' 'nonce-abc' 'unsafe-inline'; style-src 'none'",
            "csp-implemented-with-no-unsafe",
        ),
        ("default-src 'none'", "csp-implemented-with-no-unsafe-default-src-none"),
        (
            "default-src 'none'; script-src https://mozilla.org; style-src https://mozilla.org; "
            "upgrade-insecure-requests;",
            "csp-implemented-with-no-unsafe-default-src-none",
        ),
        (
            "default-src 'none'; report-uri /a; report-uri /b",
            "csp-implemented-but-duplicate-directives",
        ),
    ],
)
def test_content_security_policy(policy, expected):
    assert csp(policy) == expected


def test_csp_missing_or_report_only():
    assert observatory.content_security_policy(site()) == "csp-not-implemented"
    report_only = site(("Content-Security-Policy-Report-Only", "default-src 'none'"))
    assert observatory.content_security_policy(report_only) == "csp-not-implemented-but-reporting-enabled"


def test_csp_in_a_meta_element_counts_but_not_its_frame_ancestors():
    policy = "default-src 'none'; frame-ancestors 'none'"
    body = f'<html><head><meta http-equiv="Content-Security-Policy" content="{policy}"></head></html>'
    page = site(("Content-Type", "text/html; charset=utf-8"), body=body)
    assert observatory.content_security_policy(page) == "csp-implemented-with-no-unsafe-default-src-none"


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ([], "cookies-not-found"),
        (
            ["SESSIONID=1; Secure; HttpOnly; SameSite=Lax"],
            "cookies-secure-with-httponly-sessions-and-samesite",
        ),
        (["SESSIONID=1; Secure; HttpOnly"], "cookies-secure-with-httponly-sessions"),
        (["foo=bar"], "cookies-without-secure-flag-but-protected-by-hsts"),
        (["SESSIONID=1; HttpOnly"], "cookies-session-without-secure-flag-but-protected-by-hsts"),
        (["SESSIONID=1; Secure"], "cookies-session-without-httponly-flag"),
        (["foo=bar; Secure; SameSite=Sometimes"], "cookies-samesite-flag-invalid"),
        (["csrftoken=1; Secure"], "cookies-anticsrf-without-samesite-flag"),
        (
            ["csrftoken=1; Secure; SameSite=Lax", "sessionid=2; Secure; HttpOnly; SameSite=Lax"],
            "cookies-secure-with-httponly-sessions-and-samesite",
        ),
    ],
)
def test_cookies(cookies, expected):
    hsts = ("Strict-Transport-Security", "max-age=15768000")
    assert observatory.cookies(site(hsts, *[("Set-Cookie", c) for c in cookies])) == expected


def test_cookies_without_hsts_are_worse():
    assert observatory.cookies(site(("Set-Cookie", "foo=bar"))) == "cookies-without-secure-flag"
    session = site(("Set-Cookie", "SESSIONID=1; HttpOnly"))
    assert observatory.cookies(session) == "cookies-session-without-secure-flag"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "hsts-not-implemented"),
        ("max-age=15768000", "hsts-implemented-max-age-at-least-six-months"),
        ("max-age=15767999; includeSubDomains", "hsts-implemented-max-age-less-than-six-months"),
        ("includeSubDomains", "hsts-header-invalid"),
        ("max-age=63072000, max-age=1", "hsts-header-invalid"),
    ],
)
def test_strict_transport_security(header, expected):
    headers = [] if header is None else [("Strict-Transport-Security", header)]
    assert observatory.strict_transport_security(site(*headers)) == expected


def test_an_unverified_certificate_fails_hsts_and_redirection():
    unverified = site(("Strict-Transport-Security", "max-age=63072000"), verified=False)
    assert observatory.strict_transport_security(unverified) == "hsts-invalid-cert"
    assert observatory.redirection(unverified) == "redirection-invalid-cert"


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (None, "redirection-not-needed-no-http"),
        (["http://mozilla.org/"], "redirection-missing"),
        (["http://mozilla.org/", "http://www.mozilla.org/"], "redirection-not-to-https"),
        (
            ["http://mozilla.org/", "http://www.mozilla.org/", "https://www.mozilla.org/"],
            "redirection-not-to-https-on-initial-redirection",
        ),
        (["http://mozilla.org/", "https://www.mozilla.org/"], "redirection-off-host-from-http"),
        (["http://mozilla.org/", "https://mozilla.org/"], "redirection-to-https"),
    ],
)
def test_redirection(route, expected):
    assert observatory.redirection(site(route=route)) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], "referrer-policy-not-implemented"),
        (["no-referrer"], "referrer-policy-private"),
        (["same-origin"], "referrer-policy-private"),
        (["unsafe-url, no-referrer"], "referrer-policy-private"),  # the last valid one wins
        (["no-referrer, unsafe-url"], "referrer-policy-unsafe"),
        (["no-referrer-when-downgrade"], "referrer-policy-unsafe"),
        (["whimsy"], "referrer-policy-header-invalid"),
    ],
)
def test_referrer_policy(values, expected):
    assert observatory.referrer_policy(site(*[("Referrer-Policy", v) for v in values])) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html><body>no scripts</body></html>", "sri-not-implemented-but-no-scripts-loaded"),
        (
            '<script src="/static/app.js"></script>',
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        ),
        (
            '<script src="/static/app.js" integrity="sha384-abc"></script>',
            "sri-implemented-and-all-scripts-loaded-securely",
        ),
        (
            '<script src="https://cdn.example.net/a.js" integrity="sha384-abc"></script>',
            "sri-implemented-and-external-scripts-loaded-securely",
        ),
        (
            '<script src="https://cdn.example.net/a.js"></script>',
            "sri-not-implemented-but-external-scripts-loaded-securely",
        ),
        (
            '<script src="http://cdn.example.net/a.js"></script>',
            "sri-not-implemented-and-external-scripts-not-loaded-securely",
        ),
        (
            '<script src="http://cdn.example.net/a.js" integrity="sha384-abc"></script>',
            "sri-implemented-but-external-scripts-not-loaded-securely",
        ),
    ],
)
def test_subresource_integrity(body, expected):
    assert observatory.subresource_integrity(site(("Content-Type", "text/html"), body=body)) == expected


def test_sri_is_not_judged_on_other_types():
    page = site(("Content-Type", "application/json"), body='<script src="http://x/a.js"></script>')
    assert observatory.subresource_integrity(page) == "sri-not-implemented-response-not-html"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], "x-frame-options-not-implemented"),
        ([("X-Frame-Options", "DENY")], "x-frame-options-sameorigin-or-deny"),
        ([("X-Frame-Options", "ALLOW-FROM https://mozilla.org")], "x-frame-options-allow-from-origin"),
        ([("X-Frame-Options", "whimsy")], "x-frame-options-header-invalid"),
        ([("Content-Security-Policy", "frame-ancestors 'none'")], "x-frame-options-implemented-via-csp"),
    ],
)
def test_x_frame_options(headers, expected):
    assert observatory.x_frame_options(site(*headers)) == expected


@pytest.mark.parametrize(
    ("test", "header", "cases"),
    [
        (
            "cross_origin_resource_policy",
            "Cross-Origin-Resource-Policy",
            {
                None: "corp-not-implemented",
                "same-origin": "corp-implemented-with-same-origin",
                "Same-Site": "corp-implemented-with-same-site",
                "cross-origin": "corp-implemented-with-cross-origin",
                "whimsy": "corp-header-invalid",
            },
        ),
        (
            "cross_origin_opener_policy",
            "Cross-Origin-Opener-Policy",
            {
                None: "coop-not-implemented",
                "same-origin": "coop-implemented-with-same-origin",
                'same-origin; report-to="coop"': "coop-implemented-with-same-origin",
                "unsafe-none": "coop-implemented-with-unsafe-none",
                "whimsy": "coop-header-invalid",
                '"same-origin"': "coop-header-invalid",  # a string, not a token
            },
        ),
        (
            "cross_origin_embedder_policy",
            "Cross-Origin-Embedder-Policy",
            {
                None: "coep-not-implemented",
                "require-corp": "coep-implemented-with-require-corp",
                "credentialless": "coep-implemented-with-credentialless",
                "whimsy": "coep-header-invalid",
            },
        ),
    ],
)
def test_cross_origin_policies(test, header, cases):
    for value, expected in cases.items():
        headers = [] if value is None else [(header, value)]
        assert getattr(observatory, test)(site(*headers)) == expected, value


def test_cors():
    page = site()
    assert observatory.cross_origin_resource_sharing(page) == "cross-origin-resource-sharing-not-implemented"
    page.cors_headers = [("Access-Control-Allow-Origin", "*")]
    assert observatory.cross_origin_resource_sharing(page) == (
        "cross-origin-resource-sharing-implemented-with-public-access"
    )
    page.cors_headers = [
        ("Access-Control-Allow-Origin", page.cors_origin),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert observatory.cross_origin_resource_sharing(page) == (
        "cross-origin-resource-sharing-implemented-with-universal-access"
    )


def test_score_bonuses_count_only_from_an_a_and_the_grade_follows_the_chart():
    strong = site(
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("Strict-Transport-Security", "max-age=63072000"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Set-Cookie", "csrftoken=1; Secure; SameSite=Lax"),
    )
    result = observatory.score(strong)
    # 100 + CSP 10 + cookies 5 + referrer 5 + XFO via CSP 5 + CORP 10 + COOP 10
    assert (result.score, result.grade) == (145, "A+"), result.report()
    # Without HSTS (-20) the uncurved score is 80: no bonus at all.
    weak = site(*[h for h in strong.headers if h[0] != "Strict-Transport-Security"])
    assert (observatory.score(weak).score, observatory.score(weak).grade) == (80, "B+")
    with pytest.raises(ValueError, match="404"):
        observatory.score(site(status=404))
