"""Failure notifications and alerts by e-mail, each proven by a real SMTP conversation: a failed backup's
notify unit (role notify) and Alertmanager's PostgresDown (role monitoring) each hand a message to SMTP_SINK,
a minimal SMTP server this module runs twice on the Molecule host: on the host's loopback for the notify
unit, and as the container `mail-sink` on the Compose project's `alerting` network for Alertmanager.
Addresses and ports are those of molecule/shared/host_vars/molecule-host.yml."""

from __future__ import annotations

import email
import email.policy
import json
import time
from contextlib import contextmanager

import pytest
import yaml
from helpers import REPO, molecule_hosts
from test_monitoring import serving_slot, wait_for

testinfra_hosts = molecule_hosts()

HOST_VARS = yaml.safe_load(
    (REPO / "molecule" / "shared" / "host_vars" / "molecule-host.yml").read_text(encoding="utf-8")
)
ALERT_EMAILS = HOST_VARS["project_alert_emails"]
# The notify unit's server: a unit on the host's loopback, its messages in a file.
HOST_SINK_UNIT = "test-mail-sink"
HOST_SINK_SCRIPT = "/run/test-mail-sink.py"
HOST_MAILBOX = "/run/test-mail.jsonl"
# Alertmanager's server: a container on the `alerting` network, its messages on its stdout. The monitoring
# role wants a DNS name with a dot, so the container also answers to monitoring_smtp_host there.
SINK_CONTAINER = "mail-sink"

# A minimal SMTP server (no STARTTLS, no AUTH): `python3 -c SMTP_SINK ADDRESS PORT MAILBOX` accepts every
# message and appends it to MAILBOX ('-': stdout) as one JSON line {"from", "to", "data"}.
SMTP_SINK = r'''
import json, socketserver, sys, threading

ADDRESS, PORT, MAILBOX = sys.argv[1], int(sys.argv[2]), sys.argv[3]
LOCK = threading.Lock()


def store(message):
    line = json.dumps(message) + "\n"
    with LOCK:
        if MAILBOX == "-":
            sys.stdout.write(line)
            sys.stdout.flush()
        else:
            with open(MAILBOX, "a", encoding="utf-8") as out:
                out.write(line)


def address(argument):
    """'FROM:<a@b> BODY=8BITMIME' -> 'a@b'"""
    return argument.partition(":")[2].strip().split(" ")[0].strip("<>")


class Session(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self):
        self.reply("220 mail-sink ESMTP")
        sender, recipients = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250 mail-sink")
            elif verb in ("HELO", "NOOP"):
                self.reply("250 ok")
            elif verb == "RSET":
                sender, recipients = "", []
                self.reply("250 ok")
            elif verb == "MAIL":
                sender, recipients = address(argument), []
                self.reply("250 ok")
            elif verb == "RCPT":
                recipients.append(address(argument))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while True:
                    line = self.rfile.readline()
                    if not line or line.rstrip(b"\r\n") == b".":
                        break
                    data.append(line[1:] if line.startswith(b".") else line)  # dot-stuffing
                store({"from": sender, "to": recipients, "data": b"".join(data).decode("utf-8", "replace")})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer((ADDRESS, PORT), Session).serve_forever()
'''


def mails(jsonl: str) -> list[dict]:
    """The sink's lines as {"from", "to", "subject", "body"}; body: every text part, decoded."""
    found = []
    for line in jsonl.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        message = email.message_from_string(record["data"], policy=email.policy.default)
        parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        found.append(
            {
                "from": record["from"],
                "to": record["to"],
                "subject": str(message["Subject"] or ""),
                "body": "\n".join(parts),
            }
        )
    return found


def wait_until_listening(host, probe: str) -> None:
    for _ in range(50):
        if host.run(probe).rc == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"the SMTP sink does not listen: {probe}")


@contextmanager
def host_smtp_sink(host):
    """SMTP_SINK as a unit on the host at notify_smtp_host:notify_smtp_port, the notify unit's server, for the
    block; yields a function returning the messages it got so far (test_notify.py uses it too)."""
    address, port = HOST_VARS["notify_smtp_host"], HOST_VARS["notify_smtp_port"]
    host.run(f"systemctl stop {HOST_SINK_UNIT}; rm -f {HOST_MAILBOX}")
    host.check_output(f"printf '%%s' %s > {HOST_SINK_SCRIPT}", SMTP_SINK)
    host.check_output(
        f"systemd-run --unit={HOST_SINK_UNIT} --collect"
        f" python3 {HOST_SINK_SCRIPT} {address} {port} {HOST_MAILBOX}"
    )
    try:
        wait_until_listening(host, f"bash -c 'exec 3<>/dev/tcp/{address}/{port}'")
        yield lambda: mails(host.run(f"cat {HOST_MAILBOX}").stdout)
    finally:
        host.run(f"systemctl stop {HOST_SINK_UNIT}")


@pytest.fixture(scope="module")
def host_mailbox(host):
    with host_smtp_sink(host) as received:
        yield received


@pytest.fixture(scope="module")
def alert_mailbox(host, project, service_container):
    """The messages the container (monitoring_smtp_host:monitoring_smtp_port) got so far, as a function."""
    # The app image has a Python: the sink runs in it.
    image = host.check_output(
        "docker inspect --format '{{.Config.Image}}' %s", service_container(serving_slot(host, project))
    )
    port = str(HOST_VARS["monitoring_smtp_port"])
    host.run(f"docker rm --force {SINK_CONTAINER}")
    host.check_output(
        "docker run --detach --name %s --network %s --network-alias %s"
        " --entrypoint python %s -c %s 0.0.0.0 %s -",
        SINK_CONTAINER,
        f"{project}_alerting",
        HOST_VARS["monitoring_smtp_host"],
        image,
        SMTP_SINK,
        port,
    )
    wait_until_listening(
        host,
        f"docker exec {SINK_CONTAINER} python -c"
        f" 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2).close()'",
    )
    yield lambda: mails(host.run(f"docker logs {SINK_CONTAINER}").stdout)
    host.run(f"docker rm --force {SINK_CONTAINER}")


@contextmanager
def database_stopped(host, project: str):
    """The stack's db stopped for the block; started again after it, and healthy before the next test."""

    def healthy() -> bool:
        cid = host.check_output(f"docker compose --project-name {project} ps --quiet db")
        status = host.run("docker inspect --format '{{.State.Health.Status}}' %s", cid).stdout.strip()
        return bool(cid) and status == "healthy"

    host.check_output(f"docker compose --project-name {project} stop db")
    try:
        yield
    finally:
        host.check_output(f"docker compose --project-name {project} start db")
        wait_for(healthy, 120, "the database healthy again", interval=1)


def test_a_failed_backup_mails_its_unit_and_log_lines_even_when_the_webhook_fails(
    host, project, inventory_vars, host_mailbox
):
    unit = f"{project}-backup"
    notify_unit = f"{project}-notify@{unit}.service"
    environment = inventory_vars["project_environment"]

    def failure_mails():
        return [m for m in host_mailbox() if f"{unit} failed on" in m["subject"]]

    def notify_failed() -> bool:
        return host.run(f"systemctl is-failed {notify_unit}").stdout.strip() == "failed"

    with database_stopped(host, project):
        assert host.run(f"systemctl start {unit}.service").rc != 0
        mail = wait_for(failure_mails, 60, f"the failure mail of {unit}", interval=0.5)[-1]
    assert mail["subject"].startswith(f"[{project} {environment}] {unit} failed on "), mail["subject"]
    assert mail["to"] == ALERT_EMAILS
    assert mail["from"] == inventory_vars["project_email"]
    # The body: the subject's line, then the unit's last log lines as the journal has them.
    header, _, log = mail["body"].partition(f"(journalctl --unit {unit}):")
    assert mail["subject"] in header, mail["body"]
    mailed = [line for line in log.splitlines() if line.strip()]
    journal = host.check_output(f"journalctl --unit {unit} --lines 100 --no-pager --output cat").splitlines()
    assert mailed and set(mailed) <= set(journal), (mailed, journal)
    assert any("db" in line for line in mailed), mailed

    # Nothing listens at the webhook's address while this module runs (test_notify.py's receiver is not up):
    # the post failed, the mail went out all the same, and the notify unit failed for the post.
    wait_for(notify_failed, 30, f"{notify_unit} failed", interval=0.5)
    notify_log = host.check_output(f"journalctl --unit {notify_unit} --no-pager --output cat --lines 20")
    assert f"{unit} failed; webhook not delivered" in notify_log, notify_log
    assert f"{unit} failed; mailed to {', '.join(ALERT_EMAILS)}" in notify_log, notify_log
    host.run(f"systemctl reset-failed {notify_unit}")


def test_a_firing_alert_is_mailed_by_alertmanager(host, project, inventory_vars, alert_mailbox):
    def postgres_down_firing():
        return [
            m
            for m in alert_mailbox()
            if "PostgresDown" in m["subject"] + m["body"] and m["subject"].startswith("[FIRING:")
        ]

    with database_stopped(host, project):
        mail = wait_for(postgres_down_firing, 180, "PostgresDown mailed to mail-sink", interval=3)[0]
    # Alertmanager sends one message per address of project_alert_emails.
    assert mail["to"] and set(mail["to"]) <= set(ALERT_EMAILS), mail["to"]
    assert mail["from"] == inventory_vars["project_email"]
