"""The cluster inventory checks of the swarm role (ansible/plugins/filter/swarm.py); the refusal before any
change on real hosts: molecule/bad-input; a real cluster: molecule/swarm."""

import pytest
from swarm import FilterModule, swarm_cluster_problems, swarm_job_outcome, swarm_rollout_outcome

GOOD = {
    "managers": ["m1"],
    "workers": ["w1", "w2"],
    "db": ["w1"],
    "edge": ["m1"],
    "hosts": ["m1", "w1", "w2"],
    "network": "10.0.0.0/24",
    "addresses": {"m1": "10.0.0.11", "w1": "10.0.0.12", "w2": "10.0.0.13"},
}


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        "swarm_cluster_problems",
        "swarm_job_outcome",
        "swarm_rollout_outcome",
    }


def test_a_good_cluster_has_no_problem():
    assert swarm_cluster_problems(GOOD) == []


def test_three_managers_and_ipv6_are_accepted():
    cluster = GOOD | {
        "managers": ["m1", "w1", "w2"],
        "workers": [],
        "network": "fd00::/64",
        "addresses": {"m1": "fd00::11", "w1": "fd00::12", "w2": "fd00::13"},
    }
    assert swarm_cluster_problems(cluster) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"managers": ["m1", "w2"], "workers": ["w1"]}, "swarm_managers"),
        ({"managers": [], "workers": ["m1", "w1", "w2"]}, "swarm_managers"),
        ({"db": []}, "swarm_db_nodes"),
        ({"db": ["w1", "w2"]}, "swarm_db_nodes"),
        ({"db": ["elsewhere"]}, "swarm_db_nodes"),
        ({"edge": []}, "swarm_edge_nodes"),
        ({"edge": ["stranger"]}, "swarm_edge_nodes"),
        ({"network": "10.0.0.1/24"}, "swarm_node_network"),
        ({"network": "not-a-network"}, "swarm_node_network"),
        ({"addresses": GOOD["addresses"] | {"w2": "10.0.1.13"}}, "swarm_node_address of w2"),
        ({"addresses": GOOD["addresses"] | {"w2": "w2.example"}}, "swarm_node_address of w2"),
        ({"addresses": GOOD["addresses"] | {"w2": "10.0.0.12"}}, "swarm_node_address 10.0.0.12"),
        ({"workers": ["w1", "w2", "m1"]}, "in both swarm_managers and swarm_workers"),
        ({"hosts": ["m1", "w1", "w2", "lost"]}, "lost in neither"),
    ],
)
def test_each_bad_input_is_named(change, named):
    problems = swarm_cluster_problems(GOOD | change)
    assert len(problems) == 1, problems
    assert named in problems[0]


def _task(index, state, when="2026-01-01T00:00:00Z", err=""):
    return {"JobIteration": {"Index": index}, "Status": {"State": state, "Timestamp": when, "Err": err}}


@pytest.mark.parametrize(
    ("tasks", "state"),
    [
        ([], "running"),
        ([_task(1, "complete")], "running"),  # an earlier run's task only
        ([_task(1, "complete"), _task(2, "starting")], "running"),
        ([_task(2, "complete")], "complete"),
        ([_task(2, "failed", err="task: non-zero exit (1)")], "failed"),
        ([_task(2, "rejected"), _task(2, "complete")], "complete"),
    ],
)
def test_job_outcome_follows_the_current_run_only(tasks, state):
    assert swarm_job_outcome(tasks, 2)["state"] == state


def test_the_first_run_of_a_job_has_index_0_left_out():
    assert (
        swarm_job_outcome([{"JobIteration": {}, "Status": {"State": "complete"}}], 0)["state"] == "complete"
    )


def test_a_failed_job_says_why_from_its_last_task():
    tasks = [
        _task(3, "failed", "2026-01-01T00:00:01Z", "old"),
        _task(3, "failed", "2026-01-01T00:00:09Z", "new"),
    ]
    assert swarm_job_outcome(tasks, 3) == {"state": "failed", "error": "new"}


def _service(state=None, image="app:2", replicas=3, message=""):
    service = {
        "Spec": {"Mode": {"Replicated": {"Replicas": replicas}}, "Labels": {"com.docker.stack.image": image}}
    }
    if state:
        service["UpdateStatus"] = {"State": state, "Message": message}
    return service


RUNNING3 = ["Running 5 seconds ago"] * 3


@pytest.mark.parametrize(
    ("service", "running", "state"),
    [
        (_service(), RUNNING3, "complete"),  # created, never updated
        (_service(), [*RUNNING3[:2], "Starting 1 second ago"], "running"),
        (_service("updating"), RUNNING3, "running"),
        (_service("rollback_started"), RUNNING3, "running"),
        (_service("completed"), RUNNING3, "complete"),
        (_service("completed"), RUNNING3[:1], "running"),
        (_service("paused", message="update paused due to failure"), RUNNING3, "failed"),
        (_service("rollback_completed", image="app:1", message="rollback completed"), RUNNING3, "failed"),
        (_service("rollback_completed", image="app:2"), RUNNING3, "complete"),  # a rerun asking for what runs
    ],
)
def test_rollout_outcome(service, running, state):
    assert swarm_rollout_outcome(service, running, "app:2")["state"] == state


def test_a_rolled_back_update_names_the_image_and_swarms_message():
    outcome = swarm_rollout_outcome(
        _service("rollback_completed", "app:1", message="update rolled back"), [], "app:2"
    )
    assert outcome["error"] == "Swarm rolled the update back to app:1: update rolled back"
