"""The SSH login check's address and command line (ansible/plugins/filter/ssh_login.py). The check itself runs
against a real sshd in the default Molecule scenario (molecule/default/tests/test_host.py)."""

import subprocess

import pytest
import ssh_login
from ansible.errors import AnsibleFilterError

KNOWN_HOSTS = "/run/check/known_hosts"


@pytest.mark.parametrize(
    ("connection", "check_address", "expected"),
    [
        ("ssh", "", "203.0.113.10"),
        (None, "", "203.0.113.10"),  # unset: Ansible's default connection is ssh
        ("paramiko", "", "203.0.113.10"),
        ("ssh", "10.0.0.5", "10.0.0.5"),
        ("docker", "", ""),
        ("docker", " 172.17.0.2 ", "172.17.0.2"),
        ("community.docker.docker", "", ""),
        ("local", "", ""),
    ],
)
def test_the_address_is_the_connections_only_over_ssh(connection, check_address, expected):
    assert ssh_login.ssh_login_address(connection, "203.0.113.10", check_address) == expected


def test_the_command_is_a_fresh_key_only_batch_login():
    argv = ssh_login.ssh_login_argv(
        "203.0.113.10",
        "deploy",
        KNOWN_HOSTS,
        port="2222",
        key_file="/keys/id_ed25519",
        common_args="-o ProxyJump=bastion -o ControlPath=/tmp/reused",
    )
    assert argv[0] == "ssh"
    assert argv[-5:] == ["-l", "deploy", "--", "203.0.113.10", "true"]
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    # ssh keeps the first value of each option: the check's own come before the connection's.
    assert options.index("ControlPath=none") < options.index("ControlPath=/tmp/reused")
    wanted = ("BatchMode=yes", "ControlMaster=no", "PasswordAuthentication=no", "StrictHostKeyChecking=yes")
    assert all(option in options for option in wanted)
    assert f"UserKnownHostsFile={KNOWN_HOSTS}" in options
    assert "ProxyJump=bastion" in options
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-i") + 1] == "/keys/id_ed25519"


def test_without_port_or_key_ssh_decides():
    argv = ssh_login.ssh_login_argv("host.example", "deploy", KNOWN_HOSTS)
    assert "-p" not in argv
    assert "-i" not in argv


def test_every_option_is_one_ssh_accepts():
    # `ssh -G` parses the command line and prints the resulting configuration without connecting.
    argv = ssh_login.ssh_login_argv(
        "host.example", "deploy", KNOWN_HOSTS, port=2222, common_args="-o Compression=no"
    )
    command = ["/usr/bin/ssh", "-G", *argv[1:-1]]
    parsed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "batchmode yes" in parsed
    assert "controlmaster false" in parsed
    assert "\ncontrolpath " not in parsed
    assert "port 2222" in parsed
    assert "hostkeyalias base-ssh-login-check" in parsed
    assert "user deploy" in parsed


def test_the_known_hosts_line_trusts_the_key_under_the_alias():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPvySQD6sAhDr7VvJam5OH40f80+TGv/9z+uwvKktTPJ root@host\n"
    line = ssh_login.ssh_known_hosts_line(key)
    assert line == "base-ssh-login-check " + " ".join(key.split()[:2]) + "\n"
    with pytest.raises(AnsibleFilterError):
        ssh_login.ssh_known_hosts_line("")


def test_no_address_is_an_error():
    with pytest.raises(AnsibleFilterError):
        ssh_login.ssh_login_argv("", "deploy", KNOWN_HOSTS)


def test_the_filters_are_registered():
    filters = ssh_login.FilterModule().filters()
    assert filters["ssh_login_argv"] is ssh_login.ssh_login_argv
    assert filters["ssh_login_address"] is ssh_login.ssh_login_address
    assert filters["ssh_known_hosts_line"] is ssh_login.ssh_known_hosts_line
