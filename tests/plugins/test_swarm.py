"""The cluster inventory checks of the swarm role (ansible/plugins/filter/swarm.py); the refusal before any
change on real hosts: molecule/bad-input; a real cluster: molecule/swarm."""

import pytest
from swarm import (
    FilterModule,
    swarm_cluster_problems,
    swarm_history,
    swarm_history_after,
    swarm_image_problem,
    swarm_job_outcome,
    swarm_rollback_plan,
    swarm_rollout_outcome,
)

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
        "swarm_history",
        "swarm_history_after",
        "swarm_image_problem",
        "swarm_job_outcome",
        "swarm_rollback_plan",
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


RUNNING3 = ["app:2 Running 5 seconds ago"] * 3


@pytest.mark.parametrize(
    ("service", "running", "state"),
    [
        (_service(), RUNNING3, "complete"),  # created, never updated
        (_service(), [*RUNNING3[:2], "app:2 Starting 1 second ago"], "running"),
        # Swarm has not started the update yet: the old replicas run.
        (_service(), ["app:1 Running 9 minutes ago"] * 3, "running"),
        (_service(), ["app:2@sha256:ab12 Running 5 seconds ago"] * 3, "complete"),
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


def _entry(release):
    return {"release": release, "image": f"app:{release}", "id": f"sha256:{release}"}


def _history(*releases):
    return {"history": [_entry(release) for release in releases]}


def test_the_history_reads_an_empty_or_missing_record_as_empty():
    assert swarm_history("") == {"history": []}
    assert swarm_history('{"history": [{"release": "1", "image": "app:1", "id": "x"}]}') == {
        "history": [{"release": "1", "image": "app:1", "id": "x"}]
    }


def test_a_release_joins_the_history_and_a_rerun_replaces_the_newest_entry():
    after = swarm_history_after(_history("1"), "2", "app:2", "sha256:2")
    assert after == _history("1", "2")
    rebuilt = swarm_history_after(after, "2", "app:2", "sha256:new")
    assert rebuilt["history"] == [_entry("1"), {"release": "2", "image": "app:2", "id": "sha256:new"}]


def test_a_rollback_drops_the_newest_release():
    assert swarm_history_after(_history("1", "2", "3"), "2", "app:2", "sha256:2", rollback=True) == _history(
        "1", "2"
    )


def test_the_history_keeps_its_newest_entries():
    record = _history(*[str(n) for n in range(20)])
    after = swarm_history_after(record, "new", "app:new", "sha256:new")
    assert len(after["history"]) == 20
    assert after["history"][0]["release"] == "1"
    assert after["history"][-1]["release"] == "new"


def test_a_rollback_goes_to_the_release_before_the_serving_one():
    plan = swarm_rollback_plan(_history("1", "2", "3"), "app:3")
    assert plan == {**_entry("2"), "problem": "", "serving": "3"}


def test_two_rollbacks_go_two_releases_back_then_stop():
    record = _history("1", "2")
    plan = swarm_rollback_plan(record, "app:2")
    record = swarm_history_after(record, plan["release"], plan["image"], plan["id"], rollback=True)
    assert plan["release"] == "1"
    again = swarm_rollback_plan(record, "app:1")
    assert again["problem"].startswith("Nothing to roll back to: the release history on this Swarm is ['1']")
    assert again["release"] == ""


@pytest.mark.parametrize(
    ("record", "serving", "named"),
    [
        (_history(), "", "web is not deployed"),
        (_history(), "app:1", "newest release on record is nothing"),
        (_history("1", "2"), "app:3", "web runs app:3, and the newest release on record is app:2"),
        (_history("1"), "app:1", "Nothing to roll back to"),
    ],
)
def test_a_rollback_without_a_known_previous_release_is_refused(record, serving, named):
    plan = swarm_rollback_plan(record, serving)
    assert named in plan["problem"]
    assert plan["release"] == ""


def test_the_serving_image_may_carry_a_digest():
    assert swarm_rollback_plan(_history("1", "2"), "app:2@sha256:ab")["release"] == "1"


def test_the_previous_image_must_be_on_every_node():
    target = _entry("1")
    assert swarm_image_problem({"m1": ["active", "sha256:1"], "w1": ["active", "sha256:1"]}, target) == ""
    gone = swarm_image_problem({"m1": ["active", "sha256:1"], "w1": ["active"], "w2": ["active"]}, target)
    assert "it is no longer on w1, w2" in gone
    assert "deploy.yml -e stack_release=1" in gone
    rebuilt = swarm_image_problem({"m1": ["active", "sha256:1"], "w1": ["active", "sha256:other"]}, target)
    assert "w1 hold(s) another image under that tag" in rebuilt


def test_hosts_that_run_no_replica_are_not_asked_for_the_image():
    target = _entry("1")
    # A retired host (no longer a member) and one that could not be reached.
    found = {"m1": ["active", "sha256:1"], "old": ["inactive"], "down": None, "w1": []}
    assert swarm_image_problem(found, target) == ""
