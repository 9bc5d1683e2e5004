"""Failure notifications (the notify role) on the converged host: a backup that fails and a self-check that
finds a short-lived certificate each post to a webhook receiver this module runs on the host, the address
molecule/shared/host_vars/molecule-host.yml gives as vault_notify_webhook_url. The self-check's notification
also reaches test_mail.py's SMTP sink by e-mail."""

from __future__ import annotations

import json
import time

import pytest
from test_mail import host_smtp_sink
from test_monitoring import wait_for

RECEIVER_PORT = 39099
HOOK_FILE = "/run/test-hook.jsonl"
RECEIVER = f"""
import http.server

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("{HOOK_FILE}", "ab") as out:
            out.write(body + b"\\n")
        self.send_response(204)
        self.end_headers()

http.server.HTTPServer(("127.0.0.1", {RECEIVER_PORT}), Hook).serve_forever()
"""


@pytest.fixture(scope="module")
def webhook(host):
    """The notifications the receiver got so far, as a function returning the JSON bodies."""
    host.run(f"rm -f {HOOK_FILE}")
    host.check_output(f"cat > /run/test-hook.py <<'EOF'\n{RECEIVER}\nEOF")
    host.check_output("systemd-run --unit=test-hook-receiver --collect python3 /run/test-hook.py")
    for _ in range(50):
        if host.run(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{RECEIVER_PORT}'").rc == 0:
            break
        time.sleep(0.2)

    def received() -> list[dict]:
        out = host.run(f"cat {HOOK_FILE}").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    yield received
    host.run("systemctl stop test-hook-receiver")


@pytest.fixture(scope="module")
def mailbox(host):
    """The e-mails the notify unit sent so far, as a function (test_mail.py's sink on the host)."""
    with host_smtp_sink(host) as received:
        yield received


def wait_for_unit_notification(received, unit: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [n for n in received() if n["unit"] == unit]
        if found:
            return found[-1]
        time.sleep(0.5)
    raise AssertionError(f"no notification for {unit}: {received()}")


def test_the_scheduled_units_notify_on_failure(host, project):
    for unit in (f"{project}-backup.service", f"{project}-selfcheck.service"):
        on_failure = host.check_output(f"systemctl show --property=OnFailure --value {unit}")
        assert on_failure == f"{project}-notify@{unit.removesuffix('.service')}.service", unit
    assert host.file(f"/etc/{project}/notify.env").mode == 0o600
    assert host.service(f"{project}-selfcheck.timer").is_enabled


def test_a_failed_backup_posts_its_unit_and_log_to_the_webhook(host, project, stack_root, webhook):
    compose = f"docker compose --project-directory {stack_root}"
    host.check_output(f"{compose} stop db")
    try:
        assert host.run(f"systemctl start {project}-backup.service").rc != 0
        notice = wait_for_unit_notification(webhook, f"{project}-backup")
    finally:
        host.check_output(f"{compose} up --detach --wait --no-deps db")
    assert notice["state"] == "failed" and notice["project"] == project
    assert notice["environment"] == "sandbox"
    assert f"{project}-backup failed on" in notice["text"]
    assert any("db" in line for line in notice["log"]), notice["log"]


def reload_and_wait(host, project: str, stack_root: str, domain: str) -> None:
    """Reloads nginx and waits until it serves the certificate of the tls directory: `nginx -s reload`
    returns before the new workers take over."""
    host.check_output(f"{stack_root}/bin/nginx-reload {project}")
    wanted = host.check_output(f"openssl x509 -noout -enddate -in {stack_root}/tls/fullchain.pem")
    served = (
        f"openssl s_client -connect 127.0.0.1:443 -servername {domain} </dev/null 2>/dev/null"
        " | openssl x509 -noout -enddate"
    )
    deadline = time.monotonic() + 30
    while host.run(served).stdout.strip() != wanted:
        assert time.monotonic() < deadline, f"nginx does not serve {wanted} 30 s after its reload"
        time.sleep(0.5)


def test_the_self_check_passes_then_reports_a_short_lived_certificate(
    host, project, stack_root, domain, webhook, mailbox
):
    host.check_output(f"systemctl start {project}-backup.service")  # a fresh dump for the backup-age check
    passed = host.run(f"systemctl start {project}-selfcheck.service")
    log = host.check_output(f"journalctl --unit {project}-selfcheck --no-pager --output cat --lines 20")
    assert passed.rc == 0, log
    assert f"ok: certificate of {domain} valid until" in log

    tls = f"{stack_root}/tls"
    host.check_output(f"cp -a {tls}/fullchain.pem {tls}/privkey.pem /run/")
    try:
        host.check_output(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3"
            f" -subj /CN={domain} -addext subjectAltName=DNS:{domain}"
            f" -keyout {tls}/privkey.pem -out {tls}/fullchain.pem 2>/dev/null"
        )
        reload_and_wait(host, project, stack_root, domain)
        assert host.run(f"systemctl start {project}-selfcheck.service").rc != 0
        notice = wait_for_unit_notification(webhook, f"{project}-selfcheck")
    finally:
        host.check_output(f"cp -a /run/fullchain.pem /run/privkey.pem {tls}/")
        reload_and_wait(host, project, stack_root, domain)
    problems = [line for line in notice["log"] if line.startswith("PROBLEM: ")]
    assert len(problems) == 1, notice["log"]
    assert problems[0].startswith(f"PROBLEM: certificate: {domain} expires "), problems
    assert problems[0].endswith("within 14 days"), problems
    # The same notification by e-mail.
    mail = wait_for(
        lambda: [m for m in mailbox() if f"{project}-selfcheck failed on" in m["subject"]], 60, "the mail"
    )[-1]
    assert problems[0] in mail["body"].splitlines(), mail["body"]
    # With the real certificate back it passes again (and the unit is no longer failed).
    again = host.run(f"systemctl start {project}-selfcheck.service")
    log = host.check_output(f"journalctl --unit {project}-selfcheck --no-pager --output cat --lines 20")
    assert again.rc == 0, log
