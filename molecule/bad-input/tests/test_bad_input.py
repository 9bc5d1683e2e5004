"""Every bad input is refused before any change, with a message that names the variable.

Each case runs the real ansible/playbooks/site.yml against the fresh host with one bad value passed as extra
vars (they override the sandbox inventory and the generated test secrets). The pre-flight play validates
every role's inputs before the first role changes anything, so the host must stay untouched.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import PREFLIGHT_PLAYBOOK, SITE_PLAYBOOK, molecule_hosts, run_playbook

testinfra_hosts = molecule_hosts()

# Concurrent ansible-playbook runs (each mostly waits on `docker exec`).
PARALLEL_RUNS = 4
WEAK_SECRET = "short-key"  # noqa: S105 - a refused test value
PLACEHOLDER_SECRET = "changeme-" * 7  # long enough, but copied from an example

# (case id, extra vars, variable the refusal must name)
CASES = [
    ("domain-missing", {"project_domain": ""}, r"(tls|stack)_domain"),
    ("domain-malformed", {"project_domain": "not a domain!"}, r"(tls|stack)_domain"),
    ("domain-uppercase-underscore", {"project_domain": "My_Site.example.com"}, r"(tls|stack)_domain"),
    ("email-malformed", {"project_email": "webmaster-at-localhost"}, r"stack_default_from_email|tls_email"),
    ("secret-key-missing", {"vault_django_secret_key": ""}, r"stack_secret_key"),
    ("secret-key-weak", {"vault_django_secret_key": WEAK_SECRET}, r"stack_secret_key"),
    ("secret-key-placeholder", {"vault_django_secret_key": PLACEHOLDER_SECRET}, r"stack_secret_key"),
    ("db-password-missing", {"vault_postgres_password": ""}, r"stack_postgres_password"),
    ("db-password-weak", {"vault_postgres_password": "abc123"}, r"stack_postgres_password"),
    ("tls-mode-unknown", {"project_tls_mode": "plaintext"}, r"tls_mode"),
    ("authorized-keys-empty", {"vault_deploy_authorized_keys": []}, r"base_deploy_authorized_keys"),
    (
        "authorized-keys-not-a-key",
        {"vault_deploy_authorized_keys": ["hunter2"]},
        r"base_deploy_authorized_keys",
    ),
    ("docker-source-unknown", {"docker_source": "snap"}, r"docker_source"),
    ("releases-keep-one", {"stack_releases_keep": 1}, r"stack_releases_keep"),
    ("maintenance-unknown", {"stack_maintenance": "maybe"}, r"stack_maintenance"),
    (
        "restic-password-weak",
        {"vault_backup_restic_repository": "/srv/offsite", "vault_backup_restic_password": "short"},
        r"backup_restic_password",
    ),
    # Formats decided by real parsers (ansible/plugins/test/formats.py, systemd-analyze on the host).
    ("domain-trailing-newline", {"project_domain": "app.example.com\n"}, r"(tls|stack)_domain"),
    ("web-sources-bad-cidr", {"base_firewall_web_sources": ["10.0.0.0/33"]}, r"base_firewall_web_sources"),
    ("timezone-unknown", {"base_timezone": "Europe/Atlantis"}, r"base_timezone"),
    ("backup-calendar-malformed", {"backup_on_calendar": "every day at noon"}, r"backup_on_calendar"),
]

# Debian 12 as Ansible's fact gathering sees it (os-release and debian_version), bind-mounted over the real
# files for one run: the files themselves stay untouched.
BOOKWORM_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def _refused(result, variable: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"the bad input was accepted:\n{output[-3000:]}"
    failed = [line for line in output.splitlines() if "fatal:" in line or "msg:" in line or "ERROR" in line]
    assert re.search(variable, output), f"no message names {variable}:\n" + "\n".join(failed[-20:])
    # Refused by the first play (site.yml's pre-flight validation of every role), not by a later task.
    plays = re.findall(r"^PLAY \[(.*)\]", output, re.MULTILINE)
    assert len(plays) == 1, f"the run went on past the first play: {plays}"


def _run_all(runs: dict[str, tuple[Path, dict]]) -> dict:
    """Run the playbooks concurrently (none may change the host, so they cannot disturb each other)."""
    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        futures = {
            case: pool.submit(run_playbook, playbook, extra) for case, (playbook, extra) in runs.items()
        }
        return {case: future.result() for case, future in futures.items()}


@pytest.fixture(scope="module")
def bad_input_runs(pristine_marker) -> dict:
    return _run_all({case_id: (SITE_PLAYBOOK, extra) for case_id, extra, _ in CASES})


@pytest.mark.parametrize(("case_id", "variable"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_change(bad_input_runs, case_id, variable):
    _refused(bad_input_runs[case_id], variable)


def test_host_unchanged_after_the_refused_runs(bad_input_runs, assert_host_unchanged):
    assert_host_unchanged()


@contextmanager
def pretend_debian_12(host):
    host.check_output(
        "printf %s > /tmp/os-release.bookworm && printf '12.9\\n' > /tmp/debian_version.bookworm",
        BOOKWORM_OS_RELEASE,
    )
    host.check_output("mount --bind /tmp/os-release.bookworm /usr/lib/os-release")
    try:
        host.check_output("mount --bind /tmp/debian_version.bookworm /etc/debian_version")
        try:
            yield
        finally:
            host.run("umount /etc/debian_version")
    finally:
        host.run("umount /usr/lib/os-release")
        host.run("rm -f /tmp/os-release.bookworm /tmp/debian_version.bookworm")


@pytest.fixture(scope="module")
def debian_12_runs(host, bad_input_runs) -> dict:
    """On a host that looks like Debian 12: distro Docker (refused) and, as a control, official (accepted)."""
    with pretend_debian_12(host):
        version = host.check_output(
            "python3 -c %s", "import platform; print(platform.freedesktop_os_release()['VERSION_ID'])"
        )
        assert version.strip() == "12"
        return _run_all(
            {
                "distro": (SITE_PLAYBOOK, {"docker_source": "distro"}),
                # The pre-flight playbook alone: every role's checks, no change (site.yml imports it first).
                "official": (PREFLIGHT_PLAYBOOK, {"docker_source": "official"}),
            }
        )


def test_distro_docker_refused_on_debian_12(debian_12_runs):
    result = debian_12_runs["distro"]
    _refused(result, r"docker_source")
    assert "Compose v2" in result.stdout + result.stderr


def test_official_docker_accepted_on_debian_12(debian_12_runs):
    """Control case: docker_source=official passes every pre-flight check on the same Debian 12 host."""
    result = debian_12_runs["official"]
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_host_unchanged_after_the_debian_12_runs(debian_12_runs, assert_host_unchanged):
    assert_host_unchanged()
