"""docker_source=official in check mode (Docker's repository is unreachable from CI).

Runs after test_bad_input.py (the host must be pristine there). The only prerequisite installed for real is
python3-debian, which ansible.builtin.deb822_repository needs on the host even in check mode (the role
installs it itself on a real run). The repository's signing key comes from a stand-in file: in check mode
deb822_repository reads the key to compare it but writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import molecule_hosts, run_playbook

testinfra_hosts = molecule_hosts()

PLAYBOOK = Path(__file__).resolve().parents[1] / "official-check.yml"
STAND_IN_KEY = "/tmp/molecule-docker-key.asc"  # noqa: S108 - on the throwaway test host
OFFICIAL_PACKAGES = {
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-buildx-plugin",
    "docker-compose-plugin",
}


@pytest.fixture(scope="module")
def check_run(host) -> dict:
    host.check_output(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-debian"
    )
    stand_in = [
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "",
        "c3RhbmQtaW4=",
        "-----END PGP PUBLIC KEY BLOCK-----",
    ]
    host.check_output("printf '%%s\\n' %s %s %s %s > %s", *stand_in, STAND_IN_KEY)
    try:
        result = run_playbook(
            PLAYBOOK, {"docker_official_gpg_key_url": f"file://{STAND_IN_KEY}"}, check=True, json_output=True
        )
    finally:
        host.run(f"rm -f {STAND_IN_KEY}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _task_results(run: dict, name: str) -> list[dict]:
    found = [
        task_result
        for play in run["plays"]
        for task in play["tasks"]
        # The JSON callback names role tasks "<role> : <task>".
        if task["task"]["name"].split(" : ", 1)[-1] == name
        for task_result in task["hosts"].values()
    ]
    assert found, f"task {name!r} did not run"
    return found


def test_check_run_has_no_unexpected_failure(check_run):
    for host_stats in check_run["stats"].values():
        assert host_stats["failures"] == 0
        assert host_stats["unreachable"] == 0


def test_official_repository_would_be_added(check_run):
    (result,) = _task_results(check_run, "Add Docker's apt repository")
    assert result["changed"] is True
    repo = result["repo"]
    assert "URIs: https://download.docker.com/linux/debian" in repo
    assert "Suites: trixie" in repo
    assert "Components: stable" in repo
    assert "Types: deb" in repo
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in repo


def test_official_packages_requested(check_run):
    (result,) = _task_results(
        check_run, "Install the engine, Compose v2, buildx and the Docker SDK for Python"
    )
    requested = set(result["invocation"]["module_args"]["name"])
    assert requested >= OFFICIAL_PACKAGES | {"python3-docker"}
    assert not requested & {"docker.io", "docker-compose", "docker-cli"}


def test_daemon_config_would_be_written(check_run):
    (result,) = _task_results(check_run, "Configure the daemon (log rotation, live restore)")
    assert result["changed"] is True


def test_check_mode_changed_nothing(host):
    for path in ("/etc/apt/sources.list.d/docker.sources", "/etc/apt/keyrings/docker.asc", "/etc/docker"):
        assert not host.file(path).exists, path
    assert not host.package("docker-ce").is_installed
