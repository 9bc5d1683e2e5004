"""What the site configuration may use, decided from the nginx image's `nginx -V` output.

`nginx_features` is the one place that turns `nginx -V` into template choices, and `nginx_hsts` the one that
decides the Strict-Transport-Security value; the nginx role and scripts/render_nginx_site.py (`make up`) both
call them, so both render the site the same way. `nginx_time_directive` reads a timeout from a shipped
snippet, for the checks of other settings against it. `nginx_replica_sockets` lists the sockets of a release
slot's web containers.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# `http2 on;` exists since nginx 1.25.1; older versions take the `http2` listen parameter.
HTTP2_DIRECTIVE_SINCE = (1, 25, 1)
# Since nginx 1.29.7 an upstream keeps idle connections by default (`keepalive 32 local`); `keepalive 0`
# turns that off, and older versions refuse 0.
UPSTREAM_KEEPALIVE_DEFAULT_SINCE = (1, 29, 7)
# The hybrid post-quantum key exchange X25519MLKEM768 needs OpenSSL 3.5.
MLKEM_SINCE = (3, 5)
# Mozilla server-side TLS 6.0 (intermediate) groups, most preferred first.
CLASSIC_GROUPS = ["X25519", "prime256v1", "secp384r1"]
# An nginx whose `nginx -V` is not at hand is taken for this one (any nginx >= 1.25.1 with OpenSSL 3 is).
BASELINE = "nginx version: nginx/1.25.1\nbuilt with OpenSSL 3.0.0"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def nginx_features(nginx_v: str) -> dict:
    """The versions `nginx -V` names (nginx writes it to stderr) and the choices they allow.

    The OpenSSL version is the one nginx runs with (Debian's nginx can run with a newer libssl than it was
    built with), else the one it was built with; '0' when absent.
    """
    nginx = [*re.findall(r"nginx/([0-9.]+)", nginx_v), "0"][0]
    openssl = [
        *re.findall(r"running with OpenSSL ([0-9.]+)", nginx_v),
        *re.findall(r"built with OpenSSL ([0-9.]+)", nginx_v),
        "0",
    ][0]
    mlkem = _version(openssl) >= MLKEM_SINCE
    return {
        "nginx_version": nginx,
        "openssl_version": openssl,
        "http2_directive": _version(nginx) >= HTTP2_DIRECTIVE_SINCE,
        "upstream_keepalive_default": _version(nginx) >= UPSTREAM_KEEPALIVE_DEFAULT_SINCE,
        "ecdh_curve": (["X25519MLKEM768"] if mlkem else []) + CLASSIC_GROUPS,
    }


# Two years with subdomains (the app's default too); a browser that met a development or self-signed site gets
# only minutes, so it does not force HTTPS on every http://localhost:* server it visits afterwards.
HSTS_PRODUCTION = "max-age=63072000; includeSubDomains"
HSTS_DEVELOPMENT = "max-age=300"


def nginx_hsts(domain: str, certificate_source: str) -> str:
    """The Strict-Transport-Security value of the site: short for `localhost` (and its subdomains) or a
    self-signed certificate, the production value otherwise."""
    local = domain == "localhost" or domain.endswith(".localhost")
    return HSTS_DEVELOPMENT if local or certificate_source == "selfsigned" else HSTS_PRODUCTION


# nginx's time units (https://nginx.org/en/docs/syntax.html) in seconds; a bare number is seconds.
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def nginx_time_directive(text: str, name: str) -> int:
    """The value in seconds of the one `name <time>;` directive in `text` (a snippet the role ships)."""
    found = re.findall(rf"^\s*{re.escape(name)}\s+([0-9]+)([smhd]?)\s*;", text or "", re.MULTILINE)
    if len(found) != 1:
        raise ValueError(f"expected one '{name} <time>;' directive, found {len(found)}")
    value, unit = found[0]
    return int(value) * _TIME_UNITS[unit]


def nginx_replica_sockets(replicas: int | str, socket: str) -> list[str]:
    """The sockets of a release slot's `replicas` containers, named as each gunicorn binds its own
    (app/config/replica.py, socket_path): `socket` itself for the first, `<stem>-N<suffix>` for the Nth."""
    path = PurePosixPath(socket)
    count = int(replicas)
    if count < 1:
        raise ValueError(f"nginx_web_replicas must be 1 or more, got {replicas!r}")
    return [socket] + [str(path.with_name(f"{path.stem}-{n}{path.suffix}")) for n in range(2, count + 1)]


class FilterModule:
    def filters(self):
        return {
            "nginx_features": nginx_features,
            "nginx_hsts": nginx_hsts,
            "nginx_replica_sockets": nginx_replica_sockets,
            "nginx_time_directive": nginx_time_directive,
        }
