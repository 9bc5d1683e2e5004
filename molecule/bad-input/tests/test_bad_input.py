"""Every bad input is refused before any change, with a message that names the variable.

Each case runs the real ansible/playbooks/site.yml against the fresh host with one bad value passed as extra
vars (they override the sandbox inventory and the generated test secrets). The pre-flight play validates
every role's inputs before the first role changes anything, so the host must stay untouched.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import PREFLIGHT_PLAYBOOK, SITE_PLAYBOOK, molecule_hosts, molecule_inventory, run_playbook

testinfra_hosts = molecule_hosts()

# Concurrent ansible-playbook runs (each mostly waits on `docker exec`).
PARALLEL_RUNS = 4
WEAK_SECRET = "short-key"  # noqa: S105 - a refused test value
PLACEHOLDER_SECRET = "changeme-" * 7  # long enough, but copied from an example

# An ed25519 key cut short: the right shape, but ssh-keygen cannot read it.
TRUNCATED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPvySQD6sAhDr7VvJam5OH40f80 ops@laptop"
# An inventory other than the sandbox, with a committed release label.
PROD_LIKE = {"project_environment": "prod", "project_release": "v1.2.0"}
# Let's Encrypt settings that pass the tls role's own checks.
LETSENCRYPT = {
    "project_tls_mode": "letsencrypt",
    "project_domain": "app.djangoapp.dev",
    "project_email": "ops@djangoapp.dev",
}
# Cloudflare mode with an origin certificate and neither origin pulls nor a source restriction (the default
# restriction to Cloudflare's ranges explicitly lifted).
CLOUDFLARE_OPEN = {
    "project_tls_mode": "cloudflare",
    "project_web_sources": [],
    "project_domain": "app.djangoapp.dev",
    "vault_cloudflare_origin_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "vault_cloudflare_origin_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
}

# A one-node Swarm that passes every check: the cases below break one thing each (extra vars override the
# inventory groups' mapping, ansible/playbooks/group_vars/all/project.yml).
HOST = "molecule-bad-input"
CLUSTER = {
    "project_engine": "swarm",
    "project_node_network": "10.9.0.0/24",
    "swarm_node_address": "10.9.0.5",
    "swarm_managers": [HOST],
    "swarm_workers": [],
    "swarm_db_nodes": [HOST],
    "swarm_edge_nodes": [HOST],
}

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
    ("db-app-password-missing", {"vault_postgres_app_password": ""}, r"stack_postgres_app_password"),
    (
        "db-app-password-is-the-superusers",
        {
            "vault_postgres_password": "Kq8vN2xW7pLr4TzY9mBc",
            "vault_postgres_app_password": "Kq8vN2xW7pLr4TzY9mBc",
        },
        r"stack_postgres_app_password",
    ),
    ("db-app-user-is-the-superuser", {"stack_postgres_app_user": "djangoapp"}, r"stack_postgres_app_user"),
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
    ("release-mode-unknown", {"release_mode": "fast"}, r"stack_release_mode"),
    (
        "reverse-migrations-not-a-boolean",
        {"reverse_migrations": "perhaps"},
        r"stack_rollback_reverse_migrations",
    ),
    ("postgres-target-not-a-major", {"postgres_target": "18.1"}, r"postgres_target must be a PostgreSQL"),
    ("notify-webhook-not-a-url", {"vault_notify_webhook_url": "hooks.example.com/t"}, r"notify_webhook_url"),
    # The monitoring profile.
    ("monitoring-with-nowhere-to-alert", {"project_monitoring": True}, r"monitoring_webhook_url"),
    ("monitoring-interval-without-unit", {"monitoring_scrape_interval": "15"}, r"monitoring_scrape_interval"),
    ("alert-email-malformed", {"project_alert_emails": ["ops-at-example"]}, r"(notify|monitoring)_email_to"),
    (
        "monitoring-subnet-host-bits",
        {"project_monitoring_subnet": "172.30.81.1/24"},
        r"stack_monitoring_subnet",
    ),
    ("log-format-unknown", {"project_log_format": "xml"}, r"(nginx|stack)_log_format"),
    # The cluster inventory (project_engine swarm).
    ("cluster-database-on-no-node", CLUSTER | {"swarm_db_nodes": []}, r"swarm_db_node"),
    ("cluster-even-managers", CLUSTER | {"swarm_managers": [HOST, "second-manager"]}, r"swarm_managers"),
    ("cluster-edge-without-nodes", CLUSTER | {"swarm_edge_nodes": []}, r"swarm_edge_nodes"),
    ("cluster-address-outside-network", CLUSTER | {"swarm_node_address": "10.8.0.5"}, r"swarm_node_address"),
    ("cluster-network-host-bits", CLUSTER | {"project_node_network": "10.9.0.5/24"}, r"swarm_node_network"),
    ("web-replicas-zero", CLUSTER | {"project_web_replicas": 0}, r"stack_web_replicas"),
    ("engine-unknown", {"project_engine": "kubernetes"}, r"stack_engine"),
    # 2 slots x 3 containers x 2 workers x 4 threads + 10 reserved: beyond PostgreSQL's 50 connections.
    ("web-replicas-beyond-db-connections", {"project_web_replicas": 3}, r"stack_web_replicas"),
    ("login-rate-zero", {"nginx_login_rate_per_minute": 0}, r"nginx_login_rate_per_minute"),
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
    (
        "authorized-key-truncated",
        {"vault_deploy_authorized_keys": [TRUNCATED_KEY]},
        r"base_deploy_authorized_keys",
    ),
    ("email-double-dot", {"project_email": "ops@mail..example.com"}, r"stack_default_from_email|tls_email"),
    (
        "extra-domain-trailing-space",
        {"project_extra_domains": ["www.example.com "]},
        r"(tls_extra_domains|stack_extra_hosts)",
    ),
    ("web-sources-host-bits", {"base_firewall_web_sources": ["10.0.0.1/8"]}, r"base_firewall_web_sources"),
    ("ssh-port-out-of-range", {"base_ssh_port": 70000}, r"base_ssh_port"),
    (
        "ssh-login-check-without-address",
        {"base_ssh_login_check": True, "base_ssh_login_check_address": ""},
        r"base_ssh_login_check_address",
    ),
    (
        "ssh-login-check-key-file-missing",
        {"base_ssh_login_check": True, "base_ssh_login_check_key_file": "/nonexistent/deploy_ed25519"},
        r"base_ssh_login_check_key_file",
    ),
    (
        "reboot-time-impossible",
        {"base_unattended_upgrades_reboot_time": "25:00"},
        r"base_unattended_upgrades_reboot_time",
    ),
    ("fail2ban-bantime-prose", {"base_fail2ban_sshd_bantime": "10 minutes"}, r"base_fail2ban_sshd_bantime"),
    ("language-code-malformed", {"stack_language_code": "russian!"}, r"stack_language_code"),
    ("project-name-uppercase", {"project_name": "DjangoApp"}, r"(base|tls|nginx|stack|backup)_project"),
    ("image-ref-whitespace", {"stack_postgres_image": "postgres: 17"}, r"stack_postgres_image"),
    # Weak secrets: one rule with Django's own check (app/config/secret_key.py).
    ("secret-key-repeated-pattern", {"vault_django_secret_key": "abcdefghij" * 5}, r"stack_secret_key"),
    # Values that would break or inject into a file that is parsed or sourced.
    (
        "app-env-extra-overrides-debug",
        {"stack_app_env_extra": {"DJANGO_DEBUG": "true"}},
        r"stack_app_env_extra.*DJANGO_DEBUG",
    ),
    (
        "app-env-extra-overrides-database",
        {"stack_app_env_extra": {"POSTGRES_PASSWORD": "another-password-1234"}},
        r"stack_app_env_extra.*POSTGRES_PASSWORD",
    ),
    (
        "app-env-extra-newline",
        {"stack_app_env_extra": {"FEATURE": "on\nDJANGO_DEBUG=true"}},
        r"app.env values of FEATURE",
    ),
    ("email-password-quote", {"vault_email_host_password": "it's-a-password"}, r"EMAIL_HOST_PASSWORD"),
    (
        "restic-env-newline",
        {
            "vault_backup_restic_repository": "/srv/offsite",
            "vault_backup_restic_password": "a-long-restic-pass-7Qm",
            "vault_backup_restic_env": {"AWS_ACCESS_KEY_ID": "AKIA\nRESTIC_PASSWORD=x"},
        },
        r"backup_restic_env",
    ),
    # Settings only the sandbox may have.
    ("debug-outside-sandbox", {**PROD_LIKE, "stack_debug": True}, r"stack_debug"),
    ("dirty-release-outside-sandbox", {**PROD_LIKE, "project_release": "v1.2-dirty"}, r"stack_release"),
    (
        "unversioned-release-outside-sandbox",
        {**PROD_LIKE, "project_release": "unversioned"},
        r"stack_release",
    ),
    # Settings that are valid alone but not together.
    ("published-port-is-ssh-port", {"stack_https_port": 22}, r"base_ssh_port"),
    ("published-port-not-in-firewall", {"stack_https_port": 8443}, r"base_firewall_allowed_tcp_ports"),
    (
        "letsencrypt-behind-web-sources",
        {**LETSENCRYPT, "base_firewall_web_sources": ["10.0.0.0/8"]},
        r"base_firewall_web_sources",
    ),
    ("cloudflare-open-origin", CLOUDFLARE_OPEN, r"tls_cloudflare_authenticated_origin_pulls"),
    (
        "gunicorn-timeout-over-nginx",
        {"stack_gunicorn_timeout": 60},
        r"stack_gunicorn_timeout.*proxy_read_timeout",
    ),
    (
        "gunicorn-over-max-connections",
        {"stack_gunicorn_workers": 5, "stack_gunicorn_threads": 16},
        r"max_connections",
    ),
    (
        "gunicorn-over-memory-limit",
        {"stack_gunicorn_workers": 8, "stack_gunicorn_threads": 1},
        r"web memory limit",
    ),
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


def test_clear_text_vault_file_refused(tmp_path, assert_host_unchanged):
    """The scenario's inventory plus a vault.yml nobody encrypted: refused by the first play, naming it."""
    inventory = tmp_path / "inventory"
    shutil.copytree(molecule_inventory(), inventory)  # the linked group_vars and host_vars as real copies
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text('vault_superuser_password: ""\n', encoding="utf-8")
    _refused(run_playbook(SITE_PLAYBOOK, inventory=str(inventory)), rf"{re.escape(str(vault))}")
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
