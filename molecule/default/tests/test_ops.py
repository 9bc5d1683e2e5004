"""The operator commands (scripts/ops.sh, behind `make status`, `make logs` and `make manage`), run from the
control node against the converged host through this scenario's inventory, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess

from helpers import REPO, molecule_inventory


def ops(*args: str) -> subprocess.CompletedProcess:
    # As from a script: Molecule's own environment forces Ansible's colours on.
    env = dict(os.environ, OPS_INVENTORY=molecule_inventory(), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(  # noqa: S603 - fixed argv
        [str(REPO / "scripts" / "ops.sh"), "molecule", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def firing_alerts(host) -> set[str]:
    """The same query as `status` (the ALERTS series, which a restarted Prometheus still answers from its
    storage before its rules have run again; its alerts API would not)."""
    reply = json.loads(
        host.check_output(
            "curl --silent --fail --get --data-urlencode %s http://127.0.0.1:9090/api/v1/query",
            'query=ALERTS{alertstate="firing"}',
        )
    )
    return {series["metric"]["alertname"] for series in reply["data"]["result"]}


def test_status_names_the_serving_release_and_the_failed_units(host, project):
    # The alerts Prometheus fires just before and just after: one may start or end meanwhile.
    before = firing_alerts(host)
    result = ops("status")
    after = firing_alerts(host)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "serving: slot web, release molecule" in out, out
    assert "maintenance: off" in out
    assert "database: PostgreSQL 17" in out
    failed = host.check_output(
        f"systemctl list-units --failed --plain --no-legend '{project}-*' | awk '{{print $1}}'"
    )
    assert f"failed units (alerts): {failed.strip() or 'none'}" in out, out
    assert "ok: certificate of" in out  # the self-check's lines
    # The monitoring profile is on here: the alerts Prometheus fires, by name.
    assert "alerts firing (Prometheus):" in out, out
    assert all(f'alertname="{name}"' in out for name in before & after), (before, after, out)
    if not before and not after:
        assert "alerts firing (Prometheus): none" in out, out


def test_logs_of_the_serving_slot(host):
    result = ops("logs", "web", "50")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "web-1  | " in result.stdout, result.stdout[-2000:]
    assert "\x1b" not in result.stdout
    refused = ops("logs", "web", "many")
    assert refused.returncode == 2 and "LINES must be a number (got 'many')" in refused.stderr


def test_manage_runs_in_the_serving_release():
    result = ops("manage", "check", "--deploy", "--fail-level", "ERROR")
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert "System check identified" in result.stdout, result.stdout
    printed = ops("manage", "shell", "-c", "from django.conf import settings; print(settings.TIME_ZONE)")
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert printed.stdout.strip().splitlines()[-1] == "Europe/Moscow"
