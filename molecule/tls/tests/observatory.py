"""Scoring of response headers with the rules of Mozilla's HTTP Observatory (the header tests of its scoring
methodology: https://github.com/mozilla/http-observatory/blob/main/httpobs/docs/scoring.md and MDN's
"HTTP Observatory" scoring page). Start at 100, add each test's modifier; bonuses (positive modifiers) only
count when the score without them is at least 90. Grade A+ is 100 and above.

A local re-implementation for the test suite (the Observatory itself scans public hosts only); each rule
returns the Observatory's result name, so a failing gate says which rule cost the points."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

SIX_MONTHS = 15768000
PRIVATE_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
UNSAFE_REFERRER = {"origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"}
GRADES = (
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
)


@dataclass
class Page:
    """What the Observatory looks at: the final HTTPS response of the site's root, and the first redirect of
    its http:// URL."""

    url: str
    headers: list[tuple[str, str]]
    body: str
    http_redirect_location: str | None

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def value(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


@dataclass
class Score:
    results: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def score(self) -> int:
        base = 100 + sum(m for _, m in self.results.values() if m < 0)
        bonus = sum(m for _, m in self.results.values() if m > 0)
        return max(0, base + (bonus if base >= 90 else 0))

    @property
    def grade(self) -> str:
        return next(g for limit, g in GRADES if self.score >= limit)


def _csp_directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        tokens = part.strip().split()
        if tokens:
            directives.setdefault(tokens[0].lower(), [t.lower() for t in tokens[1:]])
    return directives


def content_security_policy(page: Page) -> tuple[str, int]:
    policies = page.values("Content-Security-Policy")
    if not policies:
        return "csp-not-implemented", -25
    csp = _csp_directives(",".join(policies).replace(",", ";"))
    default = csp.get("default-src")
    script = csp.get("script-src", default)
    style = csp.get("style-src", default)
    if script is None:
        return "csp-implemented-with-unsafe-inline", -20
    hashed = any(
        s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-", "'strict-dynamic'")) for s in script
    )
    if "'unsafe-inline'" in script and not hashed:
        return "csp-implemented-with-unsafe-inline", -20
    if "'unsafe-eval'" in script:
        return "csp-implemented-with-unsafe-eval", -10
    sources = [s for values in csp.values() for s in values]
    if any(s.startswith("http:") or s == "http:" for s in sources):
        return "csp-implemented-with-insecure-scheme", -20
    if style is not None and "'unsafe-inline'" in style:
        return "csp-implemented-with-unsafe-inline-in-style-src-only", 0
    if default == ["'none'"]:
        return "csp-implemented-with-no-unsafe-default-src-none", 10
    return "csp-implemented-with-no-unsafe", 5


def cookies(page: Page, hsts: bool) -> tuple[str, int]:
    jar = []
    for header in page.values("Set-Cookie"):
        name = header.split("=", 1)[0].strip()
        attrs = {a.strip().split("=", 1)[0].lower(): a.strip() for a in header.split(";")[1:]}
        jar.append((name, attrs))
    if not jar:
        return "cookies-not-found", 0

    def session(name: str) -> bool:
        return any(word in name.lower() for word in ("login", "sess"))

    for name, attrs in jar:
        if session(name) and "secure" not in attrs:
            return (
                ("cookies-session-without-secure-flag-but-protected-by-hsts", -10)
                if hsts
                else ("cookies-session-without-secure-flag", -40)
            )
        if session(name) and "httponly" not in attrs:
            return "cookies-session-without-httponly-flag", -30
    if any("secure" not in attrs for _, attrs in jar):
        return (
            ("cookies-without-secure-flag-but-protected-by-hsts", -5)
            if hsts
            else ("cookies-without-secure-flag", -20)
        )
    if all("samesite" in attrs and not attrs["samesite"].lower().endswith("none") for _, attrs in jar):
        return "cookies-secure-with-httponly-sessions-and-samesite", 5
    return "cookies-secure-with-httponly-sessions", 0


def cross_origin_resource_sharing(page: Page) -> tuple[str, int]:
    if (page.value("Access-Control-Allow-Origin") or "").strip() == "*":
        return "cross-origin-resource-sharing-implemented-with-universal-access", -50
    return "cross-origin-resource-sharing-not-implemented", 0


def redirection(page: Page) -> tuple[str, int]:
    location = page.http_redirect_location
    if location is None:
        return "redirection-missing", -20
    target = urlsplit(location)
    if target.scheme != "https":
        return "redirection-not-to-https-on-initial-redirection", -10
    if target.hostname != urlsplit(page.url).hostname:
        return "redirection-off-host-from-http", -5
    return "redirection-to-https", 0


def referrer_policy(page: Page) -> tuple[str, int]:
    values = page.values("Referrer-Policy")
    if not values:
        return "referrer-policy-not-implemented", 0
    # The last recognised value of a comma-separated list wins.
    policies = [p.strip().lower() for v in values for p in v.split(",") if p.strip()]
    policy = next((p for p in reversed(policies) if p in PRIVATE_REFERRER | UNSAFE_REFERRER), None)
    if policy in PRIVATE_REFERRER:
        return "referrer-policy-private", 5
    if policy in UNSAFE_REFERRER:
        return "referrer-policy-unsafe", -5
    return "referrer-policy-header-invalid", -5


def strict_transport_security(page: Page) -> tuple[str, int]:
    values = page.values("Strict-Transport-Security")
    if not values:
        return "hsts-not-implemented", -20
    match = re.search(r"max-age=\"?(\d+)\"?", values[0], re.I)
    if len(values) != 1 or not match:
        return "hsts-header-invalid", -20
    if int(match.group(1)) < SIX_MONTHS:
        return "hsts-implemented-max-age-less-than-six-months", -10
    return "hsts-implemented-max-age-at-least-six-months", 0


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def subresource_integrity(page: Page) -> tuple[str, int]:
    if "html" not in (page.value("Content-Type") or ""):
        return "sri-not-implemented-response-not-html", 0
    parser = _Scripts()
    parser.feed(page.body)
    external = []
    for script in parser.scripts:
        src = script.get("src")
        if src and urlsplit(src).netloc and urlsplit(src).hostname != urlsplit(page.url).hostname:
            external.append(script)
    if not parser.scripts:
        return "sri-not-implemented-but-no-scripts-loaded", 0
    if not external:
        return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0
    if any(str(s.get("src", "")).startswith("http:") for s in external):
        return "sri-not-implemented-and-external-scripts-not-loaded-securely", -50
    if all(s.get("integrity") for s in external):
        return "sri-implemented-and-external-scripts-loaded-securely", 5
    return "sri-not-implemented-but-external-scripts-loaded-securely", -5


def x_content_type_options(page: Page) -> tuple[str, int]:
    value = page.value("X-Content-Type-Options")
    if value is None:
        return "x-content-type-options-not-implemented", -5
    if value.strip().lower() != "nosniff":
        return "x-content-type-options-header-invalid", -5
    return "x-content-type-options-nosniff", 0


def x_frame_options(page: Page) -> tuple[str, int]:
    csp = _csp_directives(";".join(page.values("Content-Security-Policy")))
    if "frame-ancestors" in csp:
        return "x-frame-options-implemented-via-csp", 5
    value = (page.value("X-Frame-Options") or "").strip().lower()
    if not value:
        return "x-frame-options-not-implemented", -20
    if value in ("deny", "sameorigin"):
        return "x-frame-options-sameorigin-or-deny", 0
    return "x-frame-options-header-invalid", -20


def score(page: Page) -> Score:
    hsts = strict_transport_security(page)
    result = Score()
    result.results = {
        "content-security-policy": content_security_policy(page),
        "cookies": cookies(page, hsts[1] == 0),
        "cross-origin-resource-sharing": cross_origin_resource_sharing(page),
        "redirection": redirection(page),
        "referrer-policy": referrer_policy(page),
        "strict-transport-security": hsts,
        "subresource-integrity": subresource_integrity(page),
        "x-content-type-options": x_content_type_options(page),
        "x-frame-options": x_frame_options(page),
    }
    return result
