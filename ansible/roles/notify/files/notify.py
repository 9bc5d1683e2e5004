#!/usr/bin/python3
"""Posts that a unit failed, with its last log lines, to the webhook of the settings file.

Usage: <project>-notify SETTINGS_FILE UNIT, run by <project>-notify@<unit>.service (OnFailure= of the
project's scheduled units).
The JSON carries `text` (what Slack, Mattermost and most chat webhooks show) and the fields one by one.
Without a webhook it only logs. Exits non-zero when the webhook refuses, so that the journal shows it.
"""

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path


def settings(path: str) -> dict:
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: notify SETTINGS_FILE UNIT", file=sys.stderr)
        return 2
    conf, unit = settings(sys.argv[1]), sys.argv[2]
    log = subprocess.run(  # noqa: S603 - fixed argv
        ["/usr/bin/journalctl", "--unit", unit, "--lines", "20", "--no-pager", "--output", "cat"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
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
    if not url:
        print(f"notify: {unit} failed; no webhook configured (notify_webhook_url)")
        return 0
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked by the role (http/https)
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=15) as reply:  # noqa: S310
        print(f"notify: {unit} failed; webhook answered {reply.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
