"""The monitoring role's alert rules (ansible/roles/monitoring/files/alerts.yml), checked and unit-tested by
the promtool of the registry-free Prometheus image (PROMETHEUS_IMAGE of docker/images/local.env, built by
docker/images/build.sh when absent or outdated): the same promtool the role validates the file with.

    pytest -m stack tests/stack/test_alert_rules.py
"""

from __future__ import annotations

import os

import pytest
import yaml
from stack_support import ROOT, run

pytestmark = pytest.mark.stack

RULES_DIR = ROOT / "ansible" / "roles" / "monitoring" / "files"
RULES = RULES_DIR / "alerts.yml"
# The alerts of minutes (evaluated every 15 s) and those of the self-check's daily metrics (every 5 minutes).
RULE_TESTS = [RULES_DIR / "alerts_test.yml", RULES_DIR / "alerts_selfcheck_test.yml"]
LOCAL_ENV = ROOT / "docker" / "images" / "local.env"
RUNBOOK_PAGE = "docs/runtime/observability.md"


def local_image(key: str) -> str:
    for line in LOCAL_ENV.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name == key:
            return value
    raise AssertionError(f"{LOCAL_ENV} has no {key}")


@pytest.fixture(scope="module")
def promtool() -> list[str]:
    """`docker run ... promtool` with the rules directory at /rules, read-only and without a network; as the
    checkout's owner, who can read it whatever its mode."""
    image = local_image("PROMETHEUS_IMAGE")
    run([str(ROOT / "docker" / "images" / "build.sh"), "prometheus"], timeout=900)
    user = f"{os.getuid()}:{os.getgid()}"
    options = ["--network", "none", "--user", user, "--volume", f"{RULES_DIR}:/rules:ro"]
    return ["docker", "run", "--rm", *options, "--entrypoint", "promtool", image]


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules_and_finds_no_lint_problem(promtool):
    result = run([*promtool, "check", "rules", "/rules/alerts.yml"])
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_stays_silent_as_its_unit_tests_expect(promtool):
    result = run([*promtool, "test", "rules", *(f"/rules/{path.name}" for path in RULE_TESTS)])
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_severity_a_summary_a_description_and_its_runbook_section():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["annotations"]["runbook"] == f"{RUNBOOK_PAGE}#{rule['alert'].lower()}"


def test_every_alert_has_a_unit_test_in_which_it_fires():
    documents = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in RULE_TESTS]
    tests = [test for document in documents for test in document["tests"]]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in alert_rules()}
