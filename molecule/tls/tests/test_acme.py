"""tls_mode letsencrypt against a real ACME server: Pebble on the host (prepare.yml), HTTP-01 through nginx's
webroot, the HTTPS config after issuance, and a forced renewal with a graceful nginx reload under load."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time

from conftest import ACME, ACME_DOMAIN, PROJECT, nginx_container, pebble_roots, peer_certificate
from cryptography import x509
from helpers import http_get

testinfra_hosts = [ACME["name"]]

RENEW_UNIT = f"{PROJECT}-certbot-renew.service"
LE_VOLUME = f"{PROJECT}_letsencrypt"


def served(cadata: str | None = None) -> x509.Certificate:
    return x509.load_der_x509_certificate(peer_certificate(ACME["https"], ACME_DOMAIN, cadata))


def test_served_certificate_chains_to_pebble_and_names_the_domain(host):
    # Verification against Pebble's root alone (no system CAs) with hostname checking: the chain nginx sends
    # (leaf + Pebble's intermediate, certbot's fullchain.pem) leads to that root and names the domain.
    cert = served(pebble_roots(host))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ACME_DOMAIN in names.get_values_for_type(x509.DNSName)
    assert "Pebble" in cert.issuer.rfc4514_string()


def test_certificate_is_certbots_not_a_dummy(host):
    live = host.check_output(
        "ls $(docker volume inspect --format '{{.Mountpoint}}' %s)/live/%s", LE_VOLUME, ACME_DOMAIN
    )
    # certbot's own live directory (symlinks into archive/), and only one lineage: no `-0001` duplicate left
    # by a dummy certificate in the way.
    assert "fullchain.pem" in live
    lineages = host.check_output(
        "ls $(docker volume inspect --format '{{.Mountpoint}}' %s)/live", LE_VOLUME
    ).split()
    assert set(lineages) - {"README"} == {ACME_DOMAIN}
    # The bootstrap's local certificate directory stays empty in letsencrypt mode.
    assert not host.file(f"/srv/{PROJECT}/tls/fullchain.pem").exists


def test_http_redirects_with_308_and_no_hsts():
    resp = http_get(
        "/some/path?q=1", port=ACME["http"], host_header=f"{ACME_DOMAIN}:{ACME['http']}", tls=False
    )
    assert resp.status == 308
    assert resp.header("Location") == f"https://{ACME_DOMAIN}:{ACME['https']}/some/path?q=1"
    assert resp.header("Strict-Transport-Security") == ""


def test_acme_challenge_path_answers_over_http_without_hsts():
    resp = http_get(
        "/.well-known/acme-challenge/missing-token", port=ACME["http"], host_header=ACME_DOMAIN, tls=False
    )
    assert resp.status == 404
    assert resp.header("Strict-Transport-Security") == ""


def test_renewal_timer_installed(host):
    timer = host.service(f"{PROJECT}-certbot-renew.timer")
    assert timer.is_enabled
    assert timer.is_running


def _load(stop: threading.Event, cadata: str, results: list, lock: threading.Lock) -> None:
    """New TLS connection per request (so each handshake sees the certificate nginx serves at that moment)."""
    context = ssl.create_default_context(cadata=cadata)
    while not stop.is_set():
        outcome = "ok"
        try:
            with (
                socket.create_connection(("127.0.0.1", ACME["https"]), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname=ACME_DOMAIN) as sock,
            ):
                conn = http.client.HTTPConnection(ACME_DOMAIN, ACME["https"], timeout=10)
                conn.sock = sock
                conn.request("GET", "/readyz", headers={"Host": f"{ACME_DOMAIN}:{ACME['https']}"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    outcome = f"status {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            results.append(outcome)


def test_forced_renewal_under_load_reloads_nginx_without_failures(host):
    roots = pebble_roots(host)
    before = served(roots)
    nginx = nginx_container(host)
    started_before = host.check_output("docker inspect --format '{{.State.StartedAt}}' %s", nginx)
    master_before = host.check_output("docker exec %s cat /run/nginx.pid", nginx)
    cli_ini = host.check_output(
        "echo $(docker volume inspect --format '{{.Mountpoint}}' %s)/cli.ini", LE_VOLUME
    )

    results: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    workers = [threading.Thread(target=_load, args=(stop, roots, results, lock)) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        # The real renewal unit (the timer's service: `certbot renew`, then `nginx -s reload`), forced through
        # certbot's configuration file because the certificate is not due for 60 days.
        host.check_output("printf 'force-renewal = True\\n' > %s", cli_ini)
        try:
            renew = host.run("timeout 300 systemctl start %s", RENEW_UNIT)
        finally:
            host.run("rm -f %s", cli_ini)
        assert renew.rc == 0, host.run("journalctl -u %s --no-pager -n 50", RENEW_UNIT).stdout
        time.sleep(3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)

    failures = [r for r in results if r != "ok"]
    assert len(results) >= 20, f"the load ran too few requests: {len(results)}"
    assert failures == [], f"{len(failures)} of {len(results)} requests failed: {failures[:5]}"

    after = served(roots)
    assert after.serial_number != before.serial_number
    assert after.not_valid_before_utc >= before.not_valid_before_utc
    # Reloaded, not restarted: same container start and the same master process.
    assert host.check_output("docker inspect --format '{{.State.StartedAt}}' %s", nginx) == started_before
    assert host.check_output("docker exec %s cat /run/nginx.pid", nginx) == master_before
    journal = host.check_output("journalctl -u %s --no-pager -n 100 -o cat", RENEW_UNIT)
    assert "Congratulations, all renewals succeeded" in journal or "renewed" in journal.lower()
    print(
        f"renewal under load: {len(results)} requests, 0 failures; serial {before.serial_number:x} -> "
        f"{after.serial_number:x}"
    )
