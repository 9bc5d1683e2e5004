"""The one mechanism behind `cd ansible && ansible-playbook site.yml -i prod`: ansible/ holds a symlink to
each playbook of ansible/playbooks/, to playbooks/group_vars (the project mapping), and to each inventory of
ansible/inventories/, and nothing else besides ansible.cfg, roles/ and plugins/ (ansible/ansible.cfg)."""

from pathlib import Path

ANSIBLE = Path(__file__).resolve().parents[1] / "ansible"
PLAYBOOKS = ANSIBLE / "playbooks"
INVENTORIES = ANSIBLE / "inventories"
REAL_ENTRIES = {"ansible.cfg", "inventories", "playbooks", "plugins", "roles"}


def expected_links() -> dict[str, Path]:
    links = {p.name: p for p in PLAYBOOKS.glob("*.yml")}
    links |= {p.name: p for p in INVENTORIES.iterdir() if p.is_dir()}
    links["group_vars"] = PLAYBOOKS / "group_vars"
    return links


def test_every_playbook_inventory_and_the_mapping_has_its_link():
    for name, target in expected_links().items():
        link = ANSIBLE / name
        assert link.is_symlink(), f"ansible/{name} must be a symlink to {target.relative_to(ANSIBLE)}"
        assert not Path(link.readlink()).is_absolute(), f"ansible/{name} must be a relative link"
        assert link.resolve() == target.resolve(), f"ansible/{name} points at {link.readlink()}, not {target}"


def test_ansible_holds_nothing_but_the_links_and_the_real_entries():
    extra = {p.name for p in ANSIBLE.iterdir()} - REAL_ENTRIES - set(expected_links())
    assert extra == set(), f"unexpected entries in ansible/: {sorted(extra)}"


def test_no_symlink_inside_the_playbooks_directory():
    assert [p.name for p in PLAYBOOKS.iterdir() if p.is_symlink()] == []


def test_the_mapping_lives_only_in_playbook_group_vars():
    for inventory_file in INVENTORIES.rglob("*.yml"):
        for line in inventory_file.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            mapped = "{{ project_" in value or "{{ vault_" in value
            assert not (mapped and not key.startswith(("project_", " ", "#"))), (
                f"{inventory_file.relative_to(ANSIBLE)} maps a role variable ({line.strip()}): "
                "the mapping belongs in ansible/playbooks/group_vars/all/project.yml"
            )
