"""Fixtures of the bad-input scenario: the host starts fresh and must stay unchanged."""

from __future__ import annotations

import pytest

MARKER = "/tmp/molecule-bad-input.marker"  # noqa: S108 - on the throwaway test host
# Where a run that got past validation would have written first (base, docker, tls, stack roles).
WATCHED_DIRS = ("/etc", "/srv", "/home", "/opt", "/usr", "/var/lib/dpkg", "/var/lib/docker")
CREATED_BY_A_RUN = (
    "/etc/ssh/sshd_config.d/00-hardening.conf",
    "/srv/djangoapp",
    "/etc/docker/daemon.json",
    "/etc/sudoers.d/deploy",
    "/home/deploy",
)


@pytest.fixture(scope="module")
def pristine_marker(host) -> str:
    """A timestamp taken before the first playbook run of the module."""
    host.check_output(f"touch {MARKER}")
    return MARKER


@pytest.fixture
def assert_host_unchanged(host, pristine_marker):
    def check() -> None:
        for path in CREATED_BY_A_RUN:
            assert not host.file(path).exists, f"{path} exists: the run changed the host"
        dirs = " ".join(WATCHED_DIRS)
        changed = host.run(
            f"find {dirs} -xdev -newer {pristine_marker} -print -quit 2>/dev/null"
        ).stdout.strip()
        assert changed == "", f"{changed} changed after the marker: the run changed the host"

    return check
