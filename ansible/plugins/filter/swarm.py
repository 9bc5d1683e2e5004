"""The Swarm decisions of the swarm and stack roles, as filters.

- `swarm_cluster_problems`: what is wrong with a cluster inventory, before anything changes. The swarm role's
  validate step (run by the pre-flight play) passes the groups and each node's address; every problem comes
  back as one sentence that names the variable or inventory group to fix. Addresses and networks are checked
  with the standard library's parser (ipaddress), never a pattern.
- `swarm_job_outcome`: where the current run of a job service (the `migrate` job) stands, from its tasks.
- `swarm_rollout_outcome`: where a rolling update of a replicated service (`web`) stands.
Each outcome is a mapping: state (`running` while Ansible should keep waiting, `complete`, `failed`) and
error (what Swarm said, for the play's message).
- `swarm_history`, `swarm_history_after`, `swarm_rollback_plan`, `swarm_image_problem`: the release history
  on the first manager (state/swarm-releases.json) and rollback.yml's decisions on a Swarm: which release to
  go back to, and why there is none.

The release history: {"history": [{"release", "image", "id"}, newest last]}, one entry per release that web
served after a complete rolling update: its label, the image reference web ran and that image's ID.
"""

import ipaddress
import json

HISTORY_MAX = 20


def _network(text):
    try:
        return ipaddress.ip_network(str(text), strict=True), ""
    except ValueError as error:
        return None, str(error)


def _address(text):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def swarm_cluster_problems(cluster):
    """The problems of `cluster` ([] if none): managers, workers, db, edge, hosts, network, addresses.

    managers, workers, db and edge are lists of inventory host names (the inventory groups the project block
    maps to swarm_managers, swarm_workers, swarm_db_nodes and swarm_edge_nodes); hosts is every host of the
    play; network the node network (CIDR); addresses maps each host to its swarm_node_address.
    """
    managers = list(cluster.get("managers") or [])
    workers = list(cluster.get("workers") or [])
    nodes = list(dict.fromkeys(managers + workers))
    problems = []

    if not managers or len(managers) % 2 == 0:
        problems.append(
            f"swarm_managers (inventory group `managers`) has {len(managers)} host(s): a Swarm needs an odd "
            "number of managers (1, 3 or 5) to keep a majority when one fails."
        )
    both = sorted(set(managers) & set(workers))
    if both:
        problems.append(
            f"{', '.join(both)} in both swarm_managers and swarm_workers: a node is one or the other."
        )
    outside = sorted(set(cluster.get("hosts") or []) - set(nodes))
    if outside:
        problems.append(
            f"{', '.join(outside)} in neither swarm_managers nor swarm_workers (inventory groups `managers`, "
            "`workers`): every host of a cluster inventory is a node."
        )

    db = list(cluster.get("db") or [])
    if len(db) != 1:
        problems.append(
            f"swarm_db_nodes (inventory group `database`) has {len(db)} host(s): the database runs on "
            "exactly one node, the one its volume lives on."
        )
    elif db[0] not in nodes:
        problems.append(f"swarm_db_nodes names {db[0]}, which is not a node (swarm_managers, swarm_workers).")

    edge = list(cluster.get("edge") or [])
    if not edge:
        problems.append(
            "swarm_edge_nodes (inventory group `edge`) is empty: at least one node must run nginx and "
            "publish ports 80 and 443."
        )
    strangers = sorted(set(edge) - set(nodes))
    if strangers:
        problems.append(
            f"swarm_edge_nodes names {', '.join(strangers)}, not nodes (swarm_managers, swarm_workers)."
        )

    network, error = _network(cluster.get("network", ""))
    if network is None:
        problems.append(
            f"swarm_node_network must be the nodes' network in CIDR form, e.g. 10.0.0.0/24 ({error})."
        )
    addresses = cluster.get("addresses") or {}
    for host in nodes:
        address = _address(addresses.get(host, ""))
        if address is None:
            problems.append(
                f"swarm_node_address of {host} is not an IP address (got '{addresses.get(host, '')}')."
            )
        elif network is not None and address not in network:
            problems.append(
                f"swarm_node_address of {host} ({address}) is outside swarm_node_network ({network}): the "
                "firewall opens the Swarm ports to that network's node addresses only."
            )
    seen = {}
    for host in nodes:
        seen.setdefault(str(addresses.get(host, "")), []).append(host)
    for address, hosts in sorted(seen.items()):
        if len(hosts) > 1:
            problems.append(
                f"swarm_node_address {address} is given to {', '.join(hosts)}: each node needs its own."
            )
    return problems


# Task states that may still end well (docker's api/types/swarm TaskState).
_TASK_PENDING = {
    "new",
    "allocated",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
}


def swarm_job_outcome(tasks, iteration):
    """The outcome of run `iteration` (JobStatus.JobIteration.Index) of a job, from `docker inspect` of its
    tasks.

    Tasks of earlier runs (the history Swarm keeps) are ignored. No task of this run yet: still running.
    """
    # Docker leaves out an index of 0 (the job's first run).
    current = [task for task in tasks or [] if (task.get("JobIteration") or {}).get("Index", 0) == iteration]
    states = [task.get("Status", {}).get("State", "") for task in current]
    if "complete" in states:
        return {"state": "complete", "error": ""}
    if not current or any(state in _TASK_PENDING for state in states):
        return {"state": "running", "error": ""}
    last = max(current, key=lambda task: task.get("Status", {}).get("Timestamp", ""))
    status = last.get("Status", {})
    return {"state": "failed", "error": status.get("Err") or status.get("Message") or status.get("State", "")}


def _image_ref(text):
    """An image reference without the digest Swarm may add (`name:tag@sha256:...`)."""
    return str(text).split("@", 1)[0]


def swarm_rollout_outcome(service, running, wanted_image):
    """The outcome of the last update of `service` (`docker service inspect`, one object).

    running: `<image> <CurrentState>` of each task whose desired state is running (`docker service ps
    --no-trunc`); wanted_image: the image this run deploys. Only tasks of the wanted image count, so the old
    replicas never complete an update that Swarm has not started yet. An update that Swarm rolled back is a
    failure, unless the image it went back to is the wanted one (a rerun that asks for what runs).
    """
    spec = service.get("Spec", {})
    replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    image = spec.get("Labels", {}).get("com.docker.stack.image", "")
    update = service.get("UpdateStatus") or {}
    state = update.get("State", "")
    message = update.get("Message", "")
    if state in ("updating", "rollback_started"):
        return {"state": "running", "error": ""}
    if state in ("paused", "rollback_paused"):
        return {"state": "failed", "error": f"the update is {state.replace('_', ' ')}: {message}"}
    if state == "rollback_completed" and image != wanted_image:
        return {"state": "failed", "error": f"Swarm rolled the update back to {image}: {message}"}
    tasks = [str(line).split(" ", 1) for line in running or [] if str(line).strip()]
    up = sum(
        1
        for task in tasks
        if len(task) == 2 and _image_ref(task[0]) == wanted_image and task[1].startswith("Running")
    )
    if up < replicas:
        return {"state": "running", "error": f"{up} of {replicas} replicas running {wanted_image}"}
    return {"state": "complete", "error": ""}


def swarm_history(text):
    """The release history from the text of state/swarm-releases.json; empty when there is none yet."""
    record = json.loads(text) if text and text.strip() else {}
    return {"history": [dict(entry) for entry in record.get("history") or []]}


def swarm_history_after(record, release, image, image_id, rollback=False):
    """The release history once web serves `release` (image reference `image`, ID `image_id`).

    A new release joins the history; the newest one deployed again (a rerun, or the same label rebuilt)
    replaces its entry; a rollback drops the newest entry, so a second rollback goes one further back. The
    newest HISTORY_MAX entries are kept.
    """
    history = list(record["history"])
    entry = {"release": release, "image": image, "id": image_id}
    if rollback:
        history = history[:-1]
    elif history and history[-1]["release"] == release:
        history[-1] = entry
    else:
        history.append(entry)
    return {"history": history[-HISTORY_MAX:]}


def swarm_rollback_plan(record, serving):
    """The release before the serving one (`serving`: the image web runs, '' when web is not deployed).

    `problem` says why there is none: fewer than two releases on record, or web runs another image than the
    history's newest (a deploy stopped before it was recorded, or web was changed by hand), so "the release
    before" is unknown.
    """
    history = record["history"]
    releases = [entry["release"] for entry in history]
    plan = {"problem": "", "release": "", "image": "", "id": "", "serving": ""}
    if not serving:
        return plan | {"problem": "Nothing to roll back: web is not deployed on this Swarm."}
    if not history or _image_ref(serving) != history[-1]["image"]:
        newest = history[-1]["image"] if history else "nothing"
        return plan | {
            "problem": (
                f"Cannot tell which release came before the serving one: web runs {serving}, and the "
                f"newest release on record is {newest} (history {releases}). Nothing was changed. Deploy the "
                "release you want with deploy.yml -e stack_release=<label> instead."
            )
        }
    if len(history) < 2:
        return plan | {
            "problem": (
                f"Nothing to roll back to: the release history on this Swarm is {releases} (rollback needs "
                "the serving release and one before it). Nothing was changed."
            )
        }
    return {**history[-2], "problem": "", "serving": history[-1]["release"]}


def swarm_image_problem(found, target):
    """Why the rollback target's image cannot run everywhere ('' when it can).

    found: {node: the lines of `docker info`'s Swarm.LocalNodeState then `docker image inspect`'s ID of the
    target's image reference (no ID line when absent), empty when the node could not be reached}; target: the
    plan's entry. web's replicas may start on any member of the Swarm, so each one needs that very image; a
    host that is not an active member (a retired node) runs none, nor does one that is down (Swarm places no
    task there; it held the image when that release was deployed).
    """
    members = {
        node: str(lines[1]).strip() if len(lines) > 1 else ""
        for node, lines in found.items()
        if lines and str(lines[0]).strip() == "active"
    }
    missing = sorted(node for node, image_id in members.items() if not image_id)
    other = sorted(node for node, image_id in members.items() if image_id and image_id != target["id"])
    if not missing and not other:
        return ""
    reasons = []
    if missing:
        reasons.append(f"it is no longer on {', '.join(missing)}")
    if other:
        reasons.append(f"{', '.join(other)} hold(s) another image under that tag (the label was rebuilt)")
    return (
        f"Cannot roll back to release {target['release']}: its image {target['image']} ({target['id']}) must "
        f"be on every node, and {' and '.join(reasons)}. Nothing was changed. Deploy it again instead: "
        f"ansible-playbook deploy.yml -e stack_release={target['release']}"
    )


class FilterModule:
    """The Swarm filters, by name."""

    def filters(self):
        return {
            "swarm_cluster_problems": swarm_cluster_problems,
            "swarm_history": swarm_history,
            "swarm_history_after": swarm_history_after,
            "swarm_image_problem": swarm_image_problem,
            "swarm_job_outcome": swarm_job_outcome,
            "swarm_rollback_plan": swarm_rollback_plan,
            "swarm_rollout_outcome": swarm_rollout_outcome,
        }
