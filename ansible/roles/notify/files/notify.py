#!/usr/bin/python3
"""Reports that a unit failed, with its last log lines, to the webhook and the e-mail addresses of the
settings file.

Usage: <project>-notify SETTINGS_FILE UNIT, run by <project>-notify@<unit>.service (OnFailure= of the
project's scheduled units).
The webhook gets JSON: `text` (what Slack, Mattermost and most chat webhooks show) and the fields one by one.
The e-mail's subject is the first line of `text`, its body that line and the unit's last log lines.
Every channel configured is tried, whatever the other one did; the exit status is non-zero when one of them
failed, so that the unit fails and the journal and `systemctl --failed` show it. Without any channel it only
logs. Standard library only: it runs with the host's python3.
"""

import json
import smtplib
import socket
import ssl
import subprocess
import sys
import urllib.request
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path

# Headers and body in 7-bit ASCII (non-ASCII log lines are quoted-printable or base64): any SMTP server takes
# it, whether or not it offers 8BITMIME.
MAIL_POLICY = SMTP.clone(cte_type="7bit")
LOG_LINES = 20
TIMEOUT = 15  # seconds, per connection attempt and reply


def settings(path: str) -> dict:
    """NAME=value lines; the value is kept as written (a password may start or end with a space)."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def journal(unit: str) -> list[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        ["/usr/bin/journalctl", "--unit", unit, "--lines", str(LOG_LINES), "--no-pager", "--output", "cat"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()


def post(url: str, payload: dict) -> str:
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked by the role (http/https)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:  # noqa: S310
        return f"webhook answered {reply.status}"


def mail(conf: dict, payload: dict) -> str:
    recipients = conf.get("NOTIFY_EMAIL_TO", "").split()
    subject = payload["text"].splitlines()[0]
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject
    message["From"] = conf["NOTIFY_EMAIL_FROM"]
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=payload["host"])
    lines = payload["log"] or ["(the journal has no lines for it)"]
    message.set_content(
        "\n".join([subject, "", f"Its last log lines (journalctl --unit {payload['unit']}):", "", *lines, ""])
    )
    host, port = conf["NOTIFY_SMTP_HOST"], int(conf.get("NOTIFY_SMTP_PORT") or 587)
    username = conf.get("NOTIFY_SMTP_USERNAME", "")
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as server:
        if conf.get("NOTIFY_SMTP_STARTTLS", "true") == "true":
            server.starttls(context=ssl.create_default_context())
        if username:
            server.login(username, conf.get("NOTIFY_SMTP_PASSWORD", ""))
        server.send_message(message)
    return f"mailed to {', '.join(recipients)} through {host}:{port}"


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: notify SETTINGS_FILE UNIT", file=sys.stderr)
        return 2
    conf, unit = settings(sys.argv[1]), sys.argv[2]
    log = journal(unit)
    host = socket.getfqdn()
    project, environment = conf.get("NOTIFY_PROJECT", ""), conf.get("NOTIFY_ENVIRONMENT", "")
    payload = {
        "text": f"[{project} {environment}] {unit} failed on {host}\n" + "\n".join(log[-10:]),
        "project": project,
        "environment": environment,
        "host": host,
        "unit": unit,
        "state": "failed",
        "log": log,
    }
    url = conf.get("NOTIFY_WEBHOOK_URL", "")
    channels = []
    if url:
        channels.append(("webhook", lambda: post(url, payload)))
    if conf.get("NOTIFY_EMAIL_TO", "").strip():
        channels.append(("e-mail", lambda: mail(conf, payload)))
    if not channels:
        print(f"notify: {unit} failed; no webhook or e-mail configured (notify_webhook_url, notify_email_to)")
        return 0
    # Neither the URL (it carries its token) nor the SMTP password may reach the journal through an error.
    secrets = [s for s in (url, conf.get("NOTIFY_SMTP_PASSWORD", "")) if s]
    failed = 0
    # Whatever goes wrong with one channel (refused, unreachable, a bad reply), the next one is still tried.
    for name, send in channels:
        try:
            print(f"notify: {unit} failed; {send()}")
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            for secret in secrets:
                reason = reason.replace(secret, "<secret>")
            print(f"notify: {unit} failed; {name} not delivered: {reason}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
