"""Scoring of a site's responses with the rules of the MDN HTTP Observatory: a Python port of the analysis
and grading of @mdn/mdn-http-observatory 1.6.3 (src/analyzer/tests/*.js, src/analyzer/cspParser.js,
src/grader/charts.js, src/scanner/index.js), the twelve tests and their modifiers as published. Start at 100
and add every test's modifier; bonuses (positive modifiers) count only when the score without them is at
least 90. A+ is 100 and above; the highest score for a site that is not on the HSTS preload list is 160.

The Observatory itself scans public hosts only, so the test suite fetches the responses (`Site`) and this
module judges them. Two inputs of the original are out of reach offline and are taken as absent: the HSTS
preload list (no test host is on it: `hsts-preloaded` and `redirection-all-redirects-preloaded` never apply),
and the public-suffix list behind SRI's "same second-level domain" (approximated by the last two labels).
Each rule returns the Observatory's result name, so a failing gate says which rule cost the points."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote, urlsplit

# charts.js SCORE_TABLE: every result the tests below return, with its modifier.
MODIFIERS = {
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "csp-not-implemented-but-reporting-enabled": -25,
    "csp-implemented-but-duplicate-directives": 0,
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    "redirection-all-redirects-preloaded": 0,
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    "redirection-invalid-cert": -20,
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    "hsts-preloaded": 5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "hsts-invalid-cert": -20,
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    "html-not-parseable": -20,
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 5,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    "corp-header-invalid": -5,
    "corp-implemented-with-cross-origin": 0,
    "corp-implemented-with-same-origin": 10,
    "corp-implemented-with-same-site": 10,
    "corp-not-implemented": 0,
    "coep-implemented-with-require-corp": 10,
    "coep-implemented-with-credentialless": 10,
    "coep-implemented-with-unsafe-none": 0,
    "coep-not-implemented": 0,
    "coep-header-invalid": -5,
    "coop-implemented-with-same-origin": 10,
    "coop-implemented-with-same-origin-allow-popups": 10,
    "coop-implemented-with-noopener-allow-popups": 10,
    "coop-implemented-with-unsafe-none": 0,
    "coop-not-implemented": 0,
    "coop-header-invalid": -5,
}
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
GRADES = {100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B", 65: "B-", 60: "C+", 55: "C"}
GRADES |= {50: "C", 45: "C-", 40: "D+", 35: "D", 30: "D", 25: "D-", 20: "F", 15: "F", 10: "F", 5: "F", 0: "F"}
SIX_MONTHS = 15768000
HTML_TYPES = {"text/html", "application/xhtml+xml"}


@dataclass
class Site:
    """What the Observatory's retriever collects, fetched by the caller.

    `url`, `status`, `headers`, `body`: the final HTTPS response of the scanned path (every header line kept:
    duplicates matter); `verified`: its certificate chain verified; `http_route`: the http:// URL then every
    redirect target followed from it (None when plain HTTP does not answer); `cors_headers`: the response to
    an OPTIONS request carrying `Origin: cors_origin`."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: str
    verified: bool
    http_route: list[str] | None
    cors_headers: list[tuple[str, str]] = field(default_factory=list)
    cors_origin: str = "https://http-observatory.security.mozilla.org"

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def mime(self) -> str:
        return (self.first("Content-Type") or "").split(";", 1)[0]


@dataclass
class Score:
    results: dict[str, str] = field(default_factory=dict)

    @property
    def modifiers(self) -> dict[str, int]:
        return {test: MODIFIERS[result] for test, result in self.results.items()}

    @property
    def score(self) -> int:
        mods = self.modifiers.values()
        with_extra_credit = 100 + sum(mods)
        uncurved = 100 + sum(m for m in mods if m < 0)
        return max(0, with_extra_credit if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved)

    @property
    def grade(self) -> str:
        return GRADES[min(self.score - self.score % 5, 100)]

    def report(self) -> str:
        lines = (f"  {test}: {result} ({MODIFIERS[result]:+d})" for test, result in self.results.items())
        return "\n".join(lines)


class _Elements(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tag = tag
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag:
            self.found.append({k.lower(): v or "" for k, v in attrs})


def _elements(html: str, tag: str) -> list[dict[str, str]]:
    parser = _Elements(tag)
    parser.feed(html)
    parser.close()
    return parser.found


def _http_equiv(site: Site) -> dict[str, list[str]]:
    """retriever/utils.js parseHttpEquivHeaders: CSP from <meta http-equiv>, Referrer-Policy from <meta
    name>."""
    found: dict[str, list[str]] = {"content-security-policy": []}
    if site.mime() not in HTML_TYPES or not site.body:
        return found
    for meta in _elements(site.body, "meta"):
        if "http-equiv" in meta and "content" in meta:
            if meta["content"] and meta["http-equiv"].lower().strip() == "content-security-policy":
                found["content-security-policy"].append(meta["content"])
        elif meta.get("name", "").lower().strip() == "referrer" and meta.get("content"):
            found["referrer-policy"] = [meta["content"]]
    return found


# --- Content-Security-Policy (cspParser.js, tests/csp.js) ---------------------------------------------------

DANGEROUSLY_BROAD = {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}
UNSAFE_INLINE = {"'unsafe-inline'", "data:"}
PASSIVE_DIRECTIVES = ("img-src", "media-src")
NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
ALLOWED_DUPLICATE_KEYS = {"report-uri", "report-to"}
DIRECTIVES_DISALLOWED_IN_META = ("frame-ancestors", "report-uri", "sandbox")
DUPLICATES = "_observatory_duplicate_key_warnings"


class CspInvalidError(ValueError):
    pass


def _path_part_match(path_a: str, path_b: str) -> bool:
    if not path_a or (path_a == "/" and not path_b):
        return True
    exact = not path_a.endswith("/")
    parts_a, parts_b = path_a.split("/"), path_b.split("/")
    if len(parts_a) > len(parts_b) or (exact and len(parts_a) != len(parts_b)):
        return False
    if not exact:
        parts_a.pop()
    return all(unquote(a) == unquote(b) for a, b in zip(parts_a, parts_b, strict=False))


def parse_csp(policies: list[str]) -> dict[str, set[str]]:
    """cspParser.js parseCsp: several policies combine to what all of them allow."""
    clean = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    if not clean:
        return {}
    if any(not p or len(p) < len("img-src") - 1 for p in clean):
        raise CspInvalidError(clean)
    csp: dict[str, list[dict]] = {}
    duplicates: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.split(";"):
            directive, *values = entry.strip().split() or [""]
            if not directive:
                continue
            directive = directive.lower()
            if directive in seen:
                if directive not in ALLOWED_DUPLICATE_KEYS:
                    raise CspInvalidError(f"duplicate directive {directive} in policy {index}")
                duplicates.add(directive)
            seen.add(directive)
            keep = index == 0
            sources = [{"source": v.strip().lower(), "index": index, "keep": keep} for v in values]
            if not values and directive.endswith("-src"):
                sources = [{"source": "'none'", "index": index, "keep": keep}]
            combined = sources if index == 0 else [*csp.get(directive, []), *sources]
            # Code-point order (the original sorts with an English collator; prefixes sort first in both).
            combined.sort(key=lambda s: s["source"])
            for prev, source in itertools.pairwise(combined):
                if source["index"] == prev["index"] and source["source"].startswith(prev["source"]):
                    source["keep"] = False
                if source["index"] != prev["index"] and _path_part_match(prev["source"], source["source"]):
                    source["keep"] = True
            csp[directive] = [s for s in combined if s["keep"]]
            if index == 0 and len(policies) > 1:
                for source in csp[directive]:
                    source["keep"] = False
    final = {d: ({s["source"] for s in sources} or {"'none'"}) for d, sources in csp.items()}
    if duplicates:
        final[DUPLICATES] = duplicates
    return final


def _split_policies(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",")]


def _csp(site: Site) -> tuple[str, dict[str, set[str]]]:
    http_policies = _split_policies(site.values("Content-Security-Policy"))
    meta_policies = _split_policies(_http_equiv(site)["content-security-policy"])
    try:
        csp = parse_csp([*http_policies, *meta_policies])
    except CspInvalidError:
        return "csp-header-invalid", {}
    try:
        http_only = parse_csp(http_policies)
    except CspInvalidError:
        http_only = {}
    try:
        meta = parse_csp(meta_policies)
        for directive in DIRECTIVES_DISALLOWED_IN_META:
            meta.pop(directive, None)
    except CspInvalidError:
        meta = {}
    if not http_only and not meta:
        if site.first("Content-Security-Policy-Report-Only"):
            return "csp-not-implemented-but-reporting-enabled", {}
        return "csp-not-implemented", {}

    everything = {"*"}
    default = csp.get("default-src")
    object_src = set(csp.get("object-src") or default or everything)
    script_src = set(csp.get("script-src") or default or everything)
    style_src = set(csp.get("style-src") or default or everything)
    for sources in (script_src, style_src):
        if any(s.startswith(NONCES_HASHES) for s in sources):
            sources.discard("'unsafe-inline'")

    result = None
    if any(s.startswith(NONCES_HASHES) for s in script_src) and "'strict-dynamic'" in script_src:
        for source in list(script_src):
            broad = any(source.startswith(b) for b in DANGEROUSLY_BROAD)
            if broad or source in ("'self'", "'unsafe-inline'"):
                script_src.discard(source)
    elif "'strict-dynamic'" in script_src:
        result = "csp-header-invalid"

    not_active = (*PASSIVE_DIRECTIVES, "script-src")
    active = [s for d, sources in csp.items() if d not in not_active for s in sources]
    active += script_src
    passive = [s for d in PASSIVE_DIRECTIVES for s in (csp.get(d) or default or set())]
    https = urlsplit(site.url).scheme == "https"

    def first(candidate: str) -> None:
        nonlocal result
        result = result or candidate

    if script_src & (DANGEROUSLY_BROAD | UNSAFE_INLINE) or object_src & DANGEROUSLY_BROAD:
        first("csp-implemented-with-unsafe-inline")
    if https and any(s.startswith(("http:", "ftp:")) for s in active):
        first("csp-implemented-with-insecure-scheme")
    if "'unsafe-eval'" in script_src | style_src:
        first("csp-implemented-with-unsafe-eval")
    if https and any(s.startswith(("http:", "ftp:")) for s in passive):
        first("csp-implemented-with-insecure-scheme-in-passive-content-only")
    if style_src & (DANGEROUSLY_BROAD | UNSAFE_INLINE):
        first("csp-implemented-with-unsafe-inline-in-style-src-only")
    if default == {"'none'"}:
        first("csp-implemented-with-no-unsafe-default-src-none")
    else:
        first("csp-implemented-with-no-unsafe")
    passing = {
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    }
    if result in passing and DUPLICATES in csp:
        result = "csp-implemented-but-duplicate-directives"
    return result, csp


def content_security_policy(site: Site) -> str:
    return _csp(site)[0]


# --- Cookies (tests/cookies.js) -----------------------------------------------------------------------------

COOKIE_ORDER = [
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
]


def _worse(new: str, old: str | None, order: list[str]) -> str:
    """utils.js onlyIfWorse."""
    if old is None or order.index(new) > (order.index(old) if old in order else -1):
        return new
    return old


def _invalid_samesite(raw: str) -> bool:
    for part in raw.strip().split(";"):
        key, _, value = part.strip().partition("=")
        valid = value and value.strip().lower() in ("lax", "strict", "none")
        if key.strip().lower() == "samesite" and not valid:
            return True
    return False


def cookies(site: Site) -> str:
    passing = ("hsts-implemented-max-age-at-least-six-months", "hsts-preloaded")
    hsts = strict_transport_security(site) in passing
    result = None
    jar = SimpleCookie()
    for raw in site.values("Set-Cookie"):
        if _invalid_samesite(raw):
            result = _worse("cookies-samesite-flag-invalid", result, COOKIE_ORDER)
        try:
            jar.load(raw)
        except CookieError:
            continue
    found = [m for name, m in jar.items() if name != "heroku-session-affinity"]
    if not found:
        return "cookies-not-found"
    missing_samesite = False
    for morsel in found:
        name = morsel.key.lower()
        session = "login" in name or "sess" in name
        secure, samesite = bool(morsel["secure"]), morsel["samesite"]
        if not secure and samesite.lower() == "none":
            result = _worse("cookies-samesite-flag-invalid", result, COOKIE_ORDER)
        if not secure:
            flag = "cookies-without-secure-flag" + ("-but-protected-by-hsts" if hsts else "")
            result = _worse(flag, result, COOKIE_ORDER)
        if "csrf" in name and not samesite:
            result = _worse("cookies-anticsrf-without-samesite-flag", result, COOKIE_ORDER)
        if session and not secure:
            flag = (
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-session-without-secure-flag"
            )
            result = _worse(flag, result, COOKIE_ORDER)
        if session and not morsel["httponly"]:
            result = _worse("cookies-session-without-httponly-flag", result, COOKIE_ORDER)
        missing_samesite = missing_samesite or not samesite
    if result is None:
        if missing_samesite:
            return "cookies-secure-with-httponly-sessions"
        return "cookies-secure-with-httponly-sessions-and-samesite"
    return result


# --- Cross-origin policies (tests/cors.js, cross-origin-*-policy.js) ---------------------------------------


def cross_origin_resource_sharing(site: Site) -> str:
    headers = {k.lower(): v for k, v in reversed(site.cors_headers)}
    acao = headers.get("access-control-allow-origin")
    if not acao:
        return "cross-origin-resource-sharing-not-implemented"
    acao = acao[:256].strip().lower()
    if acao == "*":
        return "cross-origin-resource-sharing-implemented-with-public-access"
    credentials = headers.get("access-control-allow-credentials", "")
    if acao == site.cors_origin and credentials.lower().strip() == "true":
        return "cross-origin-resource-sharing-implemented-with-universal-access"
    return "cross-origin-resource-sharing-implemented-with-restricted-access"


def _structured_token(value: str) -> str | None:
    """A bare RFC 8941 token (parameters after `;` ignored), as utils.js parseStructuredFieldToken."""
    bare = value.strip().split(";", 1)[0].strip()
    if not bare or not (bare[0].isalpha() or bare[0] == "*"):
        return None
    allowed = set("!#$%&'*+-.^_`|~:/") | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    return bare if set(bare) <= allowed else None


def _policy(site: Site, header: str, prefix: str, known: tuple[str, ...]) -> str:
    values = site.values(header)
    if not values:
        return f"{prefix}-not-implemented"
    if len(values) > 1:
        return f"{prefix}-header-invalid"
    token = _structured_token(values[0][:1024])
    return f"{prefix}-implemented-with-{token}" if token in known else f"{prefix}-header-invalid"


def cross_origin_opener_policy(site: Site) -> str:
    known = ("same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none")
    return _policy(site, "Cross-Origin-Opener-Policy", "coop", known)


def cross_origin_embedder_policy(site: Site) -> str:
    known = ("require-corp", "credentialless", "unsafe-none")
    return _policy(site, "Cross-Origin-Embedder-Policy", "coep", known)


def cross_origin_resource_policy(site: Site) -> str:
    value = ", ".join(site.values("Cross-Origin-Resource-Policy"))
    if not value:
        return "corp-not-implemented"
    value = value[:256].strip().lower()
    if value in ("same-site", "same-origin", "cross-origin"):
        return f"corp-implemented-with-{value}"
    return "corp-header-invalid"


# --- Transport (tests/redirection.js, strict-transport-security.js) ----------------------------------------


def redirection(site: Site) -> str:
    route = site.http_route
    if route is None:
        return "redirection-not-needed-no-http"
    if not site.verified:
        return "redirection-invalid-cert"
    parts = [urlsplit(url) for url in route]
    if len(parts) == 1:
        return "redirection-missing"
    if parts[-1].scheme != "https":
        return "redirection-not-to-https"
    if parts[1].scheme == "http":
        return "redirection-not-to-https-on-initial-redirection"
    if parts[0].scheme == "http" and parts[1].scheme == "https" and parts[0].hostname != parts[1].hostname:
        return "redirection-off-host-from-http"
    return "redirection-to-https"


def strict_transport_security(site: Site) -> str:
    if not site.verified:
        return "hsts-invalid-cert"
    values = site.values("Strict-Transport-Security")
    if not values:
        return "hsts-not-implemented"
    header = values[0][:1024]
    if "," in header:
        return "hsts-header-invalid"
    max_age = None
    for parameter in (p.strip().lower() for p in header.split(";")):
        if parameter.startswith("max-age="):
            # Stricter than the original, whose parseInt turns "max-age=abc" into NaN, then into a pass.
            value = parameter[8:128]
            max_age = int(value) if value.isdigit() else None
    if max_age is None:
        return "hsts-header-invalid"
    if max_age < SIX_MONTHS:
        return "hsts-implemented-max-age-less-than-six-months"
    return "hsts-implemented-max-age-at-least-six-months"


# --- The document (tests/referrer-policy.js, subresource-integrity.js, x-*.js) -----------------------------

PRIVATE_REFERRER = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"]
UNSAFE_REFERRER = ["origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"]


def referrer_policy(site: Site) -> str:
    values = [*site.values("Referrer-Policy"), *_http_equiv(site).get("referrer-policy", [])]
    if not values:
        return "referrer-policy-not-implemented"
    valid = set(PRIVATE_REFERRER) | set(UNSAFE_REFERRER)
    listed = [p.lower().strip() for p in ", ".join(values).split(",") if p.lower().strip() in valid]
    policy = listed[-1] if listed else ""
    if policy in PRIVATE_REFERRER:
        return "referrer-policy-private"
    if policy in UNSAFE_REFERRER:
        return "referrer-policy-unsafe"
    return "referrer-policy-header-invalid"


SRI_ORDER = [
    "sri-implemented-and-all-scripts-loaded-securely",
    "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely",
    "sri-not-implemented-response-not-html",
]


def _site_domain(hostname: str | None) -> str:
    return ".".join((hostname or "").split(".")[-2:])


def subresource_integrity(site: Site) -> str:
    if site.mime() and site.mime() not in HTML_TYPES:
        return "sri-not-implemented-response-not-html"
    scripts = _elements(site.body, "script")
    result = None
    foreign = False
    page = urlsplit(site.url)
    for script in scripts:
        src = script.get("src")
        if not src:
            continue
        integrity = script.get("integrity") or None
        relative_protocol = src.startswith("//") and not src.startswith("///")
        full_url = src.startswith(("http://", "https://"))
        relative_origin = not relative_protocol and not full_url
        same_domain = not full_url or _site_domain(urlsplit(src).hostname) == _site_domain(page.hostname)
        secure_origin = relative_origin or (same_domain and not relative_protocol)
        foreign = foreign or not secure_origin
        scheme = urlsplit(src).scheme if full_url else None
        secure_scheme = scheme == "https" or (relative_origin and page.scheme == "https")
        if not secure_origin:
            found = None
            if integrity and not secure_scheme:
                found = "sri-implemented-but-external-scripts-not-loaded-securely"
            elif not integrity and secure_scheme:
                found = "sri-not-implemented-but-external-scripts-loaded-securely"
            elif not integrity:
                found = "sri-not-implemented-and-external-scripts-not-loaded-securely"
            if found:
                result = _worse(found, result, SRI_ORDER)
        elif integrity and secure_scheme and result is None:
            result = "sri-implemented-and-all-scripts-loaded-securely"
    if not scripts:
        return "sri-not-implemented-but-no-scripts-loaded"
    if result is None:
        if foreign:
            return "sri-implemented-and-external-scripts-loaded-securely"
        return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    return result


def x_content_type_options(site: Site) -> str:
    value = site.first("X-Content-Type-Options")
    if value is None:
        return "x-content-type-options-not-implemented"
    if value[:256].strip().lower() != "nosniff":
        return "x-content-type-options-header-invalid"
    return "x-content-type-options-nosniff"


def x_frame_options(site: Site) -> str:
    value = site.first("X-Frame-Options")
    if value is None:
        result = "x-frame-options-not-implemented"
    elif value[:1024].strip().lower() in ("deny", "sameorigin"):
        result = "x-frame-options-sameorigin-or-deny"
    elif value[:1024].strip().lower().startswith("allow-from"):
        result = "x-frame-options-allow-from-origin"
    else:
        result = "x-frame-options-header-invalid"
    if "frame-ancestors" in _csp(site)[1]:
        result = "x-frame-options-implemented-via-csp"
    return result


TESTS = {
    "content-security-policy": content_security_policy,
    "cookies": cookies,
    "cross-origin-embedder-policy": cross_origin_embedder_policy,
    "cross-origin-opener-policy": cross_origin_opener_policy,
    "cross-origin-resource-sharing": cross_origin_resource_sharing,
    "redirection": redirection,
    "referrer-policy": referrer_policy,
    "strict-transport-security": strict_transport_security,
    "subresource-integrity": subresource_integrity,
    "x-content-type-options": x_content_type_options,
    "x-frame-options": x_frame_options,
    "cross-origin-resource-policy": cross_origin_resource_policy,
}


def score(site: Site) -> Score:
    """scanner/index.js analyzeScan: refuses a response the Observatory would not grade."""
    if site.status < 200 or (site.status >= 400 and site.status not in (401, 403)):
        raise ValueError(f"Site did respond with an unexpected HTTP status code {site.status}.")
    return Score({name: test(site) for name, test in TESTS.items()})
