"""The base role's SSH login check: a fresh, non-interactive login as the deploy user from the control
node, run before sshd is hardened (tasks/authorized_keys.yml), so a wrong key list cannot lock anybody out.

The login is made the way a person's next `ssh` would be: a new connection (no ControlMaster session to
reuse), public keys only (the key file Ansible uses and the agent), never a prompt. The host key is pinned to
the one read over Ansible's own connection, under a fixed alias, so the check neither asks nor writes to
anybody's known_hosts.
"""

import shlex

from ansible.errors import AnsibleFilterError

# Connection plugins that reach the host through its sshd.
SSH_CONNECTIONS = {
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
}
HOST_KEY_ALIAS = "base-ssh-login-check"
# ssh keeps the first value: these come before the connection's own arguments, so its ControlPath is ignored.
OPTIONS = (
    "BatchMode=yes",
    "ControlMaster=no",
    "ControlPath=none",
    "PreferredAuthentications=publickey",
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
    "GSSAPIAuthentication=no",
    f"HostKeyAlias={HOST_KEY_ALIAS}",
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    "UpdateHostKeys=no",
    "ConnectTimeout=15",
)


def ssh_login_address(connection, ansible_host, check_address=""):
    """Where the control node reaches the host's sshd: the check address when one is set, the connection's
    address when Ansible connects over SSH, otherwise '' (the role then asks for the check address)."""
    if str(check_address or "").strip():
        return str(check_address).strip()
    if str(connection or "ssh") in SSH_CONNECTIONS:
        return str(ansible_host)
    return ""


def ssh_known_hosts_line(public_key):
    """The known_hosts line that trusts this host key (the text of an ssh_host_*_key.pub) under the alias."""
    fields = str(public_key).split()
    if len(fields) < 2:
        raise AnsibleFilterError(f"not an SSH public host key: {str(public_key)[:80]!r}")
    return f"{HOST_KEY_ALIAS} {fields[0]} {fields[1]}\n"


def ssh_login_argv(address, user, known_hosts, port=None, key_file="", common_args=""):
    """The ssh command line of the check; it runs `true` on the host."""
    if not address:
        raise AnsibleFilterError("the login check has no address to reach the host's sshd")
    argv = ["ssh"]
    for option in OPTIONS:
        argv += ["-o", option]
    argv += ["-o", f"UserKnownHostsFile={known_hosts}"]
    if port not in (None, ""):
        argv += ["-p", str(int(port))]
    if key_file:
        argv += ["-i", str(key_file)]
    argv += shlex.split(str(common_args or ""))
    argv += ["-l", str(user), "--", address, "true"]
    return argv


class FilterModule:
    def filters(self):
        return {
            "ssh_login_address": ssh_login_address,
            "ssh_known_hosts_line": ssh_known_hosts_line,
            "ssh_login_argv": ssh_login_argv,
        }
