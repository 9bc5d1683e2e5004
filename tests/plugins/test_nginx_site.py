"""The nginx role's template choices from `nginx -V` (ansible/plugins/filter/nginx_site.py), used by the role
and by scripts/render_nginx_site.py alike."""

from pathlib import Path

import nginx_site
import pytest

from config import replica

DEBIAN_TRIXIE = """nginx version: nginx/1.26.3
built with OpenSSL 3.4.1 11 Feb 2025 (running with OpenSSL 3.5.1 1 Jul 2025)
TLS SNI support enabled
configure arguments: --with-http_ssl_module --with-http_v2_module"""
OFFICIAL_1_28 = """nginx version: nginx/1.28.0
built by gcc 12.2.0 (Debian 12.2.0-14)
built with OpenSSL 3.0.15 3 Sep 2024
TLS SNI support enabled"""
OLD = """nginx version: nginx/1.22.1
built with OpenSSL 3.0.9 30 May 2023"""


@pytest.mark.parametrize(
    ("text", "nginx", "openssl", "http2_directive", "mlkem"),
    [
        (DEBIAN_TRIXIE, "1.26.3", "3.5.1", True, True),  # the library it runs with decides
        (OFFICIAL_1_28, "1.28.0", "3.0.15", True, False),
        (OLD, "1.22.1", "3.0.9", False, False),
        (nginx_site.BASELINE, "1.25.1", "3.0.0", True, False),
        ("garbage", "0", "0", False, False),
    ],
)
def test_features_follow_the_versions(text, nginx, openssl, http2_directive, mlkem):
    features = nginx_site.nginx_features(text)
    assert features["nginx_version"] == nginx
    assert features["openssl_version"] == openssl
    assert features["http2_directive"] is http2_directive
    expected = ["X25519MLKEM768"] if mlkem else []
    assert features["ecdh_curve"] == [*expected, "X25519", "prime256v1", "secp384r1"]


@pytest.mark.parametrize(
    ("version", "default_on"),
    [("1.26.3", False), ("1.28.0", False), ("1.29.6", False), ("1.29.7", True), ("1.30.6", True)],
)
def test_upstream_keepalive_is_on_by_default_from_1_29_7(version, default_on):
    features = nginx_site.nginx_features(f"nginx version: nginx/{version}\nbuilt with OpenSSL 3.5.1")
    assert features["upstream_keepalive_default"] is default_on


def test_openssl_3_10_is_newer_than_3_5():
    features = nginx_site.nginx_features("nginx/1.27.0\nbuilt with OpenSSL 3.10.0")
    assert "X25519MLKEM768" in features["ecdh_curve"]


def test_the_filters_are_registered():
    filters = nginx_site.FilterModule().filters()
    assert filters["nginx_features"] is nginx_site.nginx_features
    assert filters["nginx_hsts"] is nginx_site.nginx_hsts
    assert filters["nginx_time_directive"] is nginx_site.nginx_time_directive


PROXY_SNIPPET = Path(__file__).parents[2] / "ansible/roles/nginx/files/snippets/proxy.conf"


def test_the_shipped_proxy_read_timeout_is_read():
    text = PROXY_SNIPPET.read_text(encoding="utf-8")
    seconds = nginx_site.nginx_time_directive(text, "proxy_read_timeout")
    assert f"proxy_read_timeout {seconds}s;" in text


@pytest.mark.parametrize(
    ("line", "seconds"),
    [("proxy_read_timeout 60;", 60), ("  proxy_read_timeout 45s ;", 45), ("proxy_read_timeout 2m;", 120)],
)
def test_time_units(line, seconds):
    text = f"proxy_send_timeout 5s;\n{line}\n"
    assert nginx_site.nginx_time_directive(text, "proxy_read_timeout") == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# proxy_read_timeout 60s;\n",
        "proxy_read_timeout 60s;\nproxy_read_timeout 30s;\n",
        "proxy_read_timeout 1.5s;\n",
    ],
    ids=["absent", "commented-out", "twice", "not-an-integer"],
)
def test_no_single_time_directive_is_an_error(text):
    with pytest.raises(ValueError, match="proxy_read_timeout"):
        nginx_site.nginx_time_directive(text, "proxy_read_timeout")


@pytest.mark.parametrize(
    ("domain", "source", "expected"),
    [
        ("example.org", "letsencrypt", "max-age=63072000; includeSubDomains"),
        ("example.org", "cloudflare", "max-age=63072000; includeSubDomains"),
        ("example.org", "selfsigned", "max-age=300"),
        ("localhost", "letsencrypt", "max-age=300"),
        ("app.localhost", "provided", "max-age=300"),
        ("notlocalhost.org", "letsencrypt", "max-age=63072000; includeSubDomains"),
    ],
)
def test_hsts_is_short_for_development_sites_only(domain, source, expected):
    assert nginx_site.nginx_hsts(domain, source) == expected


def test_replica_sockets_are_the_ones_gunicorn_binds():
    """nginx lists the sockets that a slot's gunicorns bind, one per container, named by the same rule."""
    live = "/run/app/live/gunicorn.sock"
    assert nginx_site.nginx_replica_sockets(1, live) == [live]
    assert nginx_site.nginx_replica_sockets("3", live) == [
        live,
        "/run/app/live/gunicorn-2.sock",
        "/run/app/live/gunicorn-3.sock",
    ]
    assert nginx_site.nginx_replica_sockets(4, live) == [
        str(replica.socket_path(Path(live), n)) for n in range(1, 5)
    ]
    with pytest.raises(ValueError, match="nginx_web_replicas must be 1 or more"):
        nginx_site.nginx_replica_sockets(0, live)
