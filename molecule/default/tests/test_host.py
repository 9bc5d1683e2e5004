"""The hardened Docker host (roles base and docker) after converge + idempotence."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, SANDBOX_VARS, SITE_PLAYBOOK, container_ip, http_get, molecule_hosts, run_playbook

testinfra_hosts = molecule_hosts()

DEPLOY_USER = "deploy"


def test_docker_engine_active_and_enabled(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_compose_v2_and_buildx(host):
    assert host.run("docker compose version").rc == 0
    assert host.run("docker buildx version").rc == 0


def test_daemon_json_rotates_logs_and_live_restores(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-driver"] == "json-file"
    assert config["log-opts"]["max-size"]
    assert int(config["log-opts"]["max-file"]) >= 1
    assert config["live-restore"] is True
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True


def test_docker_sdk_for_python(host):
    assert host.run("python3 -c 'import docker, requests'").rc == 0


def test_deploy_user(host):
    user = host.user(DEPLOY_USER)
    assert user.exists
    assert "docker" in user.groups
    keys = host.file(f"/home/{DEPLOY_USER}/.ssh/authorized_keys")
    assert keys.mode == 0o600
    assert keys.user == DEPLOY_USER
    assert keys.content_string.startswith("ssh-ed25519 ")
    sudoers = host.file(f"/etc/sudoers.d/{DEPLOY_USER}")
    assert sudoers.mode == 0o440
    assert host.run("visudo -c").rc == 0
    assert host.run(f"sudo -l -U {DEPLOY_USER}").stdout.count("NOPASSWD: ALL") == 1


@pytest.fixture(scope="module")
def sshd_effective(host) -> dict[str, str]:
    """`sshd -T`: the configuration sshd actually uses (first value wins across drop-ins)."""
    out = host.check_output("sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_sshd_key_only_no_root(host, sshd_effective):
    assert sshd_effective["passwordauthentication"] == "no"
    assert sshd_effective["kbdinteractiveauthentication"] == "no"
    assert sshd_effective["permitrootlogin"] == "no"
    assert sshd_effective["pubkeyauthentication"] == "yes"
    assert sshd_effective["authenticationmethods"] == "publickey"


def test_sshd_dropin_wins_over_cloud_init(host, sshd_effective):
    # prepare.yml writes cloud-init's drop-in the way cloud images ship it; ours (00-) is read first.
    cloud_init = host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf")
    assert cloud_init.exists and "PasswordAuthentication yes" in cloud_init.content_string
    assert host.file("/etc/ssh/sshd_config.d/00-hardening.conf").exists
    assert sshd_effective["passwordauthentication"] == "no"


def test_sshd_running(host):
    assert host.service("ssh").is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_a_key_list_nobody_can_log_in_with_is_refused_with_ssh_as_it_was(host, tmp_path):
    """The base role's SSH login check on a host whose sshd is not hardened yet: listed keys that the control
    node cannot log in with stop the play before the hardening drop-in, and the previous keys come back."""
    dropin = "/etc/ssh/sshd_config.d/00-hardening.conf"
    keys_file = f"/home/{DEPLOY_USER}/.ssh/authorized_keys"
    hardened = host.check_output(f"base64 -w0 {dropin}")
    keys_before = host.file(keys_file).content_string
    host.check_output(f"rm {dropin} && systemctl reload ssh")
    stranger = tmp_path / "stranger"
    subprocess.run(  # noqa: S603 - argv list, no shell
        ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True
    )
    stranger_public = (tmp_path / "stranger.pub").read_text(encoding="utf-8").strip()
    try:
        result = run_playbook(SITE_PLAYBOOK, {"base_deploy_authorized_keys": [stranger_public]})
        output = result.stdout + result.stderr
        # The YAML result format folds long messages: compare with the whitespace collapsed.
        flat = " ".join(output.split())
        assert result.returncode != 0, output[-3000:]
        assert f"{DEPLOY_USER} could not log in to " in flat, output[-3000:]
        # sshd still allows passwords here (cloud-init's drop-in): "(publickey,password)".
        assert "Permission denied (publickey" in flat, flat[flat.find("could not log in") :][:1000]
        assert host.file(keys_file).content_string == keys_before
        assert stranger_public.split()[1] not in host.file(keys_file).content_string
        assert not host.file(dropin).exists
        # sshd still runs with what it had: cloud-init's drop-in (prepare.yml) allows passwords.
        assert "passwordauthentication yes" in host.check_output("sshd -T")
    finally:
        host.check_output(f"echo {hardened} | base64 -d > {dropin} && systemctl reload ssh")
        # The refused logins came from the control node's address: never leave it banned for later tests.
        host.run("fail2ban-client unban --all")
    assert "passwordauthentication no" in host.check_output("sshd -T")


def test_ufw_active_with_only_the_allowed_ports(host):
    out = host.check_output("ufw status verbose")
    assert "Status: active" in out
    assert "Default: deny (incoming)" in out
    rules = host.check_output("ufw show added")
    allowed = sorted(line.split()[2] for line in rules.splitlines() if line.startswith("ufw allow"))
    assert allowed == ["22/tcp", "443/tcp", "80/tcp"], rules


def test_ufw_enabled_at_boot(host):
    assert host.service("ufw").is_enabled
    assert "ENABLED=yes" in host.file("/etc/ufw/ufw.conf").content_string


def test_docker_user_chain(host):
    rules = host.check_output("iptables -S DOCKER-USER")
    assert "--ctorigdstport 80" in rules and "--ctorigdstport 443" in rules
    assert "-j DROP" in rules
    # Docker evaluates DOCKER-USER first for forwarded traffic.
    assert "-A FORWARD -j DOCKER-USER" in host.check_output("iptables -S FORWARD")


def test_published_container_port_cannot_bypass_the_firewall(host, service_container, domain):
    """A container port published outside the allowed list is unreachable from outside the host."""
    web_image = host.check_output("docker inspect --format '{{.Config.Image}}' %s", service_container("web"))
    name = "molecule-firewall-probe"
    host.run(f"docker rm --force {name}")
    host.check_output(
        f"docker run --detach --name {name} --publish 8081:8000 --entrypoint python {web_image} "
        "-m http.server --bind 0.0.0.0 8000"
    )
    try:
        address = container_ip(host.ansible.get_variables()["inventory_hostname"])
        deadline = time.monotonic() + 30
        # On the host itself the published port serves the probe...
        while host.run("curl -fsS -o /dev/null http://127.0.0.1:8081/").rc != 0:
            assert time.monotonic() < deadline, "the probe container never answered on the host"
            time.sleep(0.5)
        # ...but from outside, DOCKER-USER drops new connections to it.
        with pytest.raises(OSError):
            http_get("/", port=8081, host_header=domain, tls=False, address=address, timeout=4)
        # The allowed port of the same host still answers from outside (nginx redirects to HTTPS).
        assert http_get("/", port=80, host_header=domain, tls=False, address=address).status in (301, 308)
    finally:
        host.run(f"docker rm --force {name}")


def test_fail2ban_sshd_jail(host):
    assert host.service("fail2ban").is_running
    assert host.service("fail2ban").is_enabled
    status = host.check_output("fail2ban-client status sshd")
    assert "Journal matches:" in status  # systemd backend
    assert "sshd" in host.check_output("fail2ban-client status")


def test_fail2ban_bans_through_ufw(host):
    probe = "203.0.113.77"  # TEST-NET-3, never a real client
    host.run(f"fail2ban-client set sshd unbanip {probe}")
    try:
        host.check_output(f"fail2ban-client set sshd banip {probe}")
        assert probe in host.check_output("fail2ban-client status sshd")
        assert probe in host.check_output("ufw status")
    finally:
        host.run(f"fail2ban-client set sshd unbanip {probe}")
    assert probe not in host.check_output("ufw status")


def test_unattended_upgrades(host):
    assert host.package("unattended-upgrades").is_installed
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_timezone(host, inventory_vars):
    zone = inventory_vars.get("base_timezone", "Etc/UTC")
    assert host.file("/etc/timezone").content_string.strip() == zone
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{zone}"


def test_site_over_ssh_as_the_deploy_user_changes_nothing(host, tmp_path):
    """The production path: SSH with the deploy user's key (passwords are off), sudo for root, Mitogen's
    strategy over SSH (ansible.cfg). site.yml through that connection finds nothing to change."""
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    address = container_ip("molecule-host")
    # The host's own key, read through the docker connection: the SSH run checks it (host_key_checking).
    host_key = host.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{address} {' '.join(host_key)}\n", encoding="utf-8")

    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "group_vars").symlink_to(SANDBOX_VARS.parent.parent)
    shared_host_vars = REPO / "molecule" / "shared" / "host_vars" / "molecule-host.yml"
    host_vars = yaml.safe_load(shared_host_vars.read_text(encoding="utf-8"))
    host_vars.update(
        ansible_connection="ssh",
        ansible_host=address,
        ansible_user=DEPLOY_USER,
        ansible_ssh_private_key_file=str(ephemeral / "deploy_ed25519"),
        ansible_ssh_common_args=f"-o UserKnownHostsFile={known_hosts}",
        ansible_python_interpreter="/usr/bin/python3",
        molecule_ephemeral_directory=str(ephemeral),
    )
    (inventory / "host_vars" / "molecule-host.yml").write_text(yaml.safe_dump(host_vars), encoding="utf-8")
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    molecule-host: {}\n", encoding="utf-8")

    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    result = run_playbook(SITE_PLAYBOOK, inventory=str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    recap = re.search(r"molecule-host\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", output)
    assert recap, output[-3000:]
    assert int(recap.group(1)) > 100
    assert recap.group(2) == "0", output[-3000:]
    # sshd logged the deploy user's key login, sudo opened root sessions for it, and the modules ran in
    # Mitogen's interpreter (its process title names the user and host).
    journal = host.check_output(f"journalctl --no-pager --since '{since}'")
    assert f"Accepted publickey for {DEPLOY_USER} from " in journal
    assert re.search(rf"session opened for user root\S* by {DEPLOY_USER}\b", journal)
    assert f"(mitogen:{DEPLOY_USER}@" in journal
