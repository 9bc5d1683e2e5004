"""A worker taken out of the Swarm through the inventory (last: after the lost-worker test of test_swarm.py).

The worker that test stopped is started again (it rejoins by itself), then moved to the group `retired` and
`site.yml --tags swarm` runs: it is drained, leaves the Swarm and is removed from the node list, the other
nodes stop allowing its address, and a rerun changes nothing.
"""

import shutil
import subprocess
from pathlib import Path

import yaml
from conftest import DB_NODE, MANAGER, NODES, WORKER, get, node_sh, output_of, running_web_nodes, wait_for
from helpers import SITE_PLAYBOOK, molecule_inventory, run_playbook

SWARM_PORTS = {"2377/tcp", "7946/tcp", "7946/udp", "4789/udp"}


def inventory_with_worker_retired(workdir: Path) -> str:
    """A copy of the scenario's inventory (its group_vars and host_vars links kept) with WORKER moved from
    `workers` to `retired`."""
    copy = workdir / "inventory"
    shutil.copytree(molecule_inventory(), copy, symlinks=True)
    hosts_file = copy / "ansible_inventory.yml"
    inventory = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
    host = inventory["workers"]["hosts"].pop(WORKER)
    inventory["retired"] = {"hosts": {WORKER: host}}
    hosts_file.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    return str(copy)


def swarm_sources(node: str) -> set[str]:
    """The addresses ufw allows the Swarm ports from on `node`."""
    rules = [line.split() for line in node_sh(node, "ufw status").stdout.splitlines()]
    return {rule[2] for rule in rules if rule[:1] and rule[0] in SWARM_PORTS}


def test_a_retired_worker_is_drained_and_leaves_the_swarm(tmp_path):
    started = subprocess.run(  # noqa: S603 - the container itself, from outside
        ["docker", "start", WORKER],  # noqa: S607 - docker from PATH
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    state = f"docker node inspect --format '{{{{.Status.State}}}}' {WORKER}"
    wait_for(
        lambda: node_sh(MANAGER, state).stdout.strip() == "ready", timeout=120, what=f"{WORKER} rejoined"
    )
    inventory = inventory_with_worker_retired(tmp_path)

    result = run_playbook(SITE_PLAYBOOK, tags="swarm", inventory=inventory, timeout=600)
    assert result.returncode == 0, output_of(result)[-4000:]

    nodes = node_sh(MANAGER, "docker node ls --format '{{.Hostname}}'").stdout.split()
    assert sorted(nodes) == sorted(set(NODES) - {WORKER}), nodes
    assert node_sh(WORKER, "docker info --format '{{.Swarm.LocalNodeState}}'").stdout.strip() == "inactive"
    assert WORKER not in running_web_nodes()
    for node in (MANAGER, DB_NODE):
        assert NODES[WORKER] not in swarm_sources(node), node
        assert swarm_sources(node) == set(NODES.values()) - {NODES[node], NODES[WORKER]}, node
    assert get("/").status == 200

    rerun = run_playbook(SITE_PLAYBOOK, tags="swarm", inventory=inventory, timeout=600)
    assert rerun.returncode == 0, output_of(rerun)[-4000:]
    recap = [line for line in output_of(rerun).splitlines() if " : ok=" in line]
    assert recap, output_of(rerun)[-3000:]
    assert all(" changed=0 " in line for line in recap), recap
