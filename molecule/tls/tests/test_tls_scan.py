"""TLS quality gate: testssl.sh (Debian's package, installed on the host by prepare.yml) scans the deployed
nginx through 127.0.0.1 on the ACME host, with the site's name (SNI) and Pebble's root as the trusted CA.

Mozilla server-side TLS guideline 6.0, intermediate: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers only,
the groups X25519MLKEM768 (OpenSSL >= 3.5), X25519, P-256, P-384; no known vulnerability."""

from __future__ import annotations

import json

import pytest
from conftest import ACME, ACME_DOMAIN

testinfra_hosts = [ACME["name"]]

ALLOWED_CIPHERS = {
    # TLS 1.3 (OpenSSL's default suites)
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    # TLS 1.2: ECDHE + AEAD, ECDSA or RSA certificates
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}
ALLOWED_CURVES = {"X25519", "prime256v1", "secp384r1"}
# testssl.sh's ids of the known attacks on TLS itself. BREACH is left out on purpose: it concerns HTTP
# compression of pages that reflect secrets, not TLS (docs/security/overview.md).
VULNERABILITIES = (
    "heartbleed",
    "CCS",
    "ticketbleed",
    "ROBOT",
    "secure_renego",
    "secure_client_renego",
    "CRIME_TLS",
    "POODLE_SSL",
    "fallback_SCSV",
    "SWEET32",
    "FREAK",
    "DROWN",
    "LOGJAM",
    "LOGJAM-common_primes",
    "BEAST",
    "LUCKY13",
    "winshock",
    "RC4",
)
SCAN = "/root/testssl.json"


@pytest.fixture(scope="module")
def scan(host) -> dict[str, dict]:
    """One testssl.sh run (protocols, ciphers per protocol, forward secrecy and groups, server defaults and
    certificate, vulnerabilities), findings by id."""
    host.check_output(
        "curl --silent --show-error --fail --cacert /etc/pebble/acme-ca.pem -o /root/pebble-root.pem"
        " https://127.0.0.1:15000/roots/0"
    )
    host.run("rm -f %s", SCAN)
    result = host.run(
        "timeout 600 testssl --quiet --color 0 --warnings off --ip 127.0.0.1 --add-ca /root/pebble-root.pem"
        " --jsonfile %s -p -E -f -S -U https://%s:443",
        SCAN,
        ACME_DOMAIN,
    )
    assert host.file(SCAN).exists, f"testssl.sh wrote no report (rc {result.rc}): {result.stdout[-2000:]}"
    findings = json.loads(host.file(SCAN).content_string)
    by_id = {f["id"]: f for f in findings}
    assert "TLS1_2" in by_id, f"testssl.sh did not reach the server: {result.stdout[-2000:]}"
    return by_id


def test_only_tls_1_2_and_1_3(scan):
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert scan[old]["finding"] == "not offered", (old, scan[old])
    assert scan["TLS1_2"]["finding"] == "offered"
    assert scan["TLS1_3"]["finding"].startswith("offered")


def test_only_ecdhe_aead_ciphers(scan):
    offered = {
        name
        for key in ("supportedciphers_TLS 1_2", "supportedciphers_TLS 1_3")
        for name in scan.get(key, {}).get("finding", "").split()
    }
    per_cipher = {f["finding"].split()[3] for i, f in scan.items() if i.startswith("cipher-")}
    assert offered, "no cipher list in the scan"
    assert per_cipher <= offered | ALLOWED_CIPHERS
    assert offered <= ALLOWED_CIPHERS, f"not allowed: {sorted(offered - ALLOWED_CIPHERS)}"
    assert not [
        i for i in scan if i.startswith("cipher-") and not i.startswith(("cipher-tls1_2", "cipher-tls1_3"))
    ]


def test_only_allowed_groups_with_post_quantum_first_where_supported(host, scan):
    curves = set(scan["FS_ECDHE_curves"]["finding"].split())
    assert curves <= ALLOWED_CURVES, f"not allowed: {sorted(curves - ALLOWED_CURVES)}"
    assert {"X25519", "prime256v1"} <= curves
    # The nginx image's OpenSSL decides whether the hybrid group is offered (nginx role, tasks/features.yml).
    version = host.check_output(
        "docker exec $(docker ps -q --filter label=com.docker.compose.service=nginx"
        " | head -1) nginx -V 2>&1 | grep -o 'running with OpenSSL [0-9.]*' || true"
    )
    kems = scan.get("FS_KEMs", {}).get("finding", "").split()
    if version and tuple(int(x) for x in version.split()[-1].split(".")[:2]) >= (3, 5):
        assert kems == ["X25519MLKEM768"]
        # Preferred: an OpenSSL 3.5 client offering it gets it.
        out = host.check_output(
            "echo | openssl s_client -connect 127.0.0.1:443 -servername %s -groups X25519MLKEM768:X25519"
            " -brief 2>&1 || true",
            ACME_DOMAIN,
        )
        assert "X25519MLKEM768" in out
    else:
        assert kems == []
    assert scan["FS"]["severity"] == "OK"


def test_no_known_vulnerability(scan):
    bad = {v: scan[v]["finding"] for v in VULNERABILITIES if scan[v]["severity"] not in ("OK", "INFO")}
    assert bad == {}
    assert scan["heartbleed"]["finding"].startswith("not vulnerable")
    assert scan["ROBOT"]["finding"].startswith("not vulnerable")
    assert scan["secure_renego"]["finding"] == "supported"
    assert scan["secure_client_renego"]["finding"].startswith("not vulnerable")
    assert scan["CRIME_TLS"]["finding"].startswith("not vulnerable")


def test_certificate_validates_against_the_test_root(scan):
    assert scan["cert_chain_of_trust"]["finding"].startswith("passed")
    assert scan["cert_trust"]["severity"] == "OK", scan["cert_trust"]
    assert ACME_DOMAIN in scan["cert_subjectAltName"]["finding"].split()


def test_http2_and_no_ocsp_stapling(scan):
    assert scan["ALPN_HTTP2"]["finding"] == "h2"
    assert scan["OCSP_stapling"]["finding"] == "not offered"


def test_scan_summary(scan):
    """Not a gate: prints the summary the report quotes (pytest -rA / -s)."""
    keys = (
        "TLS1_2",
        "TLS1_3",
        "supportedciphers_TLS 1_2",
        "supportedciphers_TLS 1_3",
        "FS_KEMs",
        "FS_ECDHE_curves",
        "cert_chain_of_trust",
        "heartbleed",
        "ROBOT",
        "secure_renego",
        "CRIME_TLS",
    )
    for key in keys:
        print(f"{key}: {scan.get(key, {}).get('finding', '-')}")
