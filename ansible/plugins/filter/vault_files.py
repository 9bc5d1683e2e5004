"""Which vault files of an inventory are in clear text (the pre-flight play and scripts/lint.sh ask).

A vault file is one Ansible loads as variables from the group_vars/ or host_vars/ of an inventory source
(`vault.yml`, `vault.yaml`, `vault.json` or `vault`, at any depth below them). It must be encrypted as a whole
by `ansible-vault encrypt`: its first line is then the `$ANSIBLE_VAULT;` envelope header. Ansible itself loads
a clear-text vault.yml without a word, so the secrets in it would sit unencrypted in a checkout or a commit.
"""

from pathlib import Path

VAULT_HEADER = b"$ANSIBLE_VAULT;"
VAULT_NAMES = {"vault", "vault.yml", "vault.yaml", "vault.json"}
VARS_DIRS = ("group_vars", "host_vars")


def _vars_dirs(source):
    """The group_vars/ and host_vars/ Ansible reads for one inventory source (a directory or a file)."""
    path = Path(source)
    base = path if path.is_dir() else path.parent
    return [base / name for name in VARS_DIRS if (base / name).is_dir()]


def plaintext_vaults(sources):
    """The vault files below the inventory sources that are not encrypted, sorted, as strings."""
    found = set()
    for source in sources:
        for directory in _vars_dirs(source):
            for path in directory.rglob("*"):
                if path.name in VAULT_NAMES and path.is_file():
                    with path.open("rb") as handle:
                        if handle.read(len(VAULT_HEADER)) != VAULT_HEADER:
                            found.add(str(path))
    return sorted(found)


class FilterModule:
    def filters(self):
        return {"plaintext_vaults": plaintext_vaults}


if __name__ == "__main__":
    # scripts/lint.sh: every committed inventory, one offending file per line, exit 1 when there is one.
    import sys

    offending = plaintext_vaults(sys.argv[1:])
    for path in offending:
        print(f"{path}: a vault file in clear text (ansible-vault encrypt {path})", file=sys.stderr)
    sys.exit(1 if offending else 0)
