"""Clear-text vault files of an inventory (ansible/plugins/filter/vault_files.py), with real ansible-vault."""

import subprocess
import sys
from pathlib import Path

from vault_files import plaintext_vaults

# The ansible-vault of the interpreter running the tests (the project venv).
ANSIBLE_VAULT = str(Path(sys.executable).parent / "ansible-vault")
SECRETS = "vault_django_secret_key: not-encrypted-at-all\n"


def encrypted(path, tmp_path):
    password = tmp_path / "vault-pass"
    password.write_text("a-test-vault-password\n", encoding="utf-8")
    path.write_text(SECRETS, encoding="utf-8")
    subprocess.run(
        [ANSIBLE_VAULT, "encrypt", "--vault-password-file", str(password), str(path)],
        check=True,
        capture_output=True,
    )


def test_an_encrypted_vault_passes(tmp_path):
    inventory = tmp_path / "prod"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    encrypted(inventory / "group_vars" / "all" / "vault.yml", tmp_path)
    (inventory / "hosts.yml").write_text("all: {}\n", encoding="utf-8")
    assert plaintext_vaults([str(inventory)]) == []
    assert plaintext_vaults([str(inventory / "hosts.yml")]) == []


def test_clear_text_vaults_are_named_wherever_ansible_reads_them(tmp_path):
    inventory = tmp_path / "prod"
    names = [
        inventory / "group_vars" / "all" / "vault.yml",
        inventory / "group_vars" / "web" / "nested" / "vault.yaml",
        inventory / "host_vars" / "web1" / "vault",
    ]
    for path in names:
        path.parent.mkdir(parents=True)
        path.write_text(SECRETS, encoding="utf-8")
    # Neither an example nor another variables file is a vault file.
    (inventory / "group_vars" / "all" / "vault.yml.example").write_text(SECRETS, encoding="utf-8")
    (inventory / "group_vars" / "all" / "main.yml").write_text("project_name: x\n", encoding="utf-8")
    (inventory / "hosts.yml").write_text("all: {}\n", encoding="utf-8")
    expected = sorted(str(path) for path in names)
    assert plaintext_vaults([str(inventory)]) == expected
    # The same files when the source is the inventory file, and once when both are given.
    assert plaintext_vaults([str(inventory / "hosts.yml"), str(inventory)]) == expected


def test_an_empty_vault_file_is_clear_text(tmp_path):
    path = tmp_path / "group_vars" / "vault.yml"
    path.parent.mkdir()
    path.write_bytes(b"")
    assert plaintext_vaults([str(tmp_path)]) == [str(path)]


def test_a_source_without_vars_directories(tmp_path):
    assert plaintext_vaults([str(tmp_path), str(tmp_path / "missing.yml")]) == []
