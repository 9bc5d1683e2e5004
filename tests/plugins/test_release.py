"""The release decisions of the stack role (ansible/plugins/filter/release.py) over the states a host goes
through: first release, rerun, new release, changed environment, a serving slot that died, failed runs,
rollbacks and pruning."""

import json

import pytest
from release import (
    HISTORY_MAX,
    FilterModule,
    migration_lint_errors,
    release_current,
    release_plan,
    release_prune,
    release_reconcile,
    release_state,
    release_state_after,
    release_state_pending,
    rollback_plan,
    rollback_schema_check,
    schema_record,
)

SLOTS = ["web", "web-green"]
ENV = "env-sum-1"


def slot(release):
    return {"release": release, "app_env": ENV, "image": ""}


def state(active, history, **slots):
    """A slot record; slots given as slot=release (dashes as underscores), all with the app env ENV."""
    return {
        "active": active,
        "slots": {name.replace("_", "-"): slot(rel) for name, rel in slots.items()},
        "history": history,
        "pending": {},
    }


def plan(record, release, running, app_env=ENV):
    return release_plan(record, SLOTS, release, app_env, running)


def deploy(record, release, running, app_env=ENV):
    """A successful run: the plan, applied as the tasks apply it."""
    chosen = plan(record, release, running, app_env)
    if not chosen["switch"]:
        return chosen, record
    return chosen, release_state_after(record, chosen["target"], release, app_env)


def test_no_record_file_is_an_empty_record():
    assert release_state("") == {"active": "", "slots": {}, "history": [], "pending": {}}


def test_the_record_file_is_read_as_written():
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    assert release_state(json.dumps(record, indent=2) + "\n") == record


def test_a_web_container_without_a_record_is_not_a_serving_slot():
    chosen = plan(release_state(""), "v1", running=["web"])
    assert chosen["active"] == ""
    assert chosen["switch"] is True
    assert chosen["target"] == "web"


def test_first_release_goes_to_the_first_slot():
    chosen, after = deploy(release_state(""), "v1", running=[])
    assert chosen == {
        "active": "",
        "target": "web",
        "switch": True,
        "target_release": "v1",
        "slot_releases": {"web": "v1", "web-green": "v1"},
    }
    assert after == state("web", ["v1"], web="v1")


def test_first_slot_is_whichever_the_caller_names_first():
    chosen = release_plan(release_state(""), ["blue", "green"], "v1", ENV, [])
    assert chosen["target"] == "blue"
    assert set(chosen["slot_releases"]) == {"blue", "green"}


def test_same_release_again_does_not_switch():
    record = state("web", ["v1"], web="v1")
    chosen, after = deploy(record, "v1", running=["web"])
    assert chosen["switch"] is False
    assert chosen["target"] == "web"
    assert chosen["slot_releases"] == {"web": "v1", "web-green": "v1"}
    assert after is record


def test_new_release_goes_to_the_idle_slot():
    record = state("web", ["v1"], web="v1")
    chosen, after = deploy(record, "v2", running=["web"])
    assert chosen["switch"] is True
    assert chosen["active"] == "web"
    assert chosen["target"] == "web-green"
    assert chosen["slot_releases"] == {"web": "v1", "web-green": "v2"}
    assert after == state("web-green", ["v1", "v2"], web="v1", web_green="v2")


def test_third_release_goes_back_to_the_first_slot():
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    chosen, after = deploy(record, "v3", running=["web-green"])
    assert chosen["target"] == "web"
    assert chosen["slot_releases"] == {"web": "v3", "web-green": "v2"}
    assert after == state("web", ["v1", "v2", "v3"], web="v3", web_green="v2")


def test_changed_app_environment_is_deployed_like_a_release():
    record = state("web", ["v1"], web="v1")
    chosen, after = deploy(record, "v1", running=["web"], app_env="env-sum-2")
    assert chosen["switch"] is True
    assert chosen["target"] == "web-green"
    assert chosen["slot_releases"] == {"web": "v1", "web-green": "v1"}
    # Same release: the history does not grow, the new slot records the new environment.
    assert after["history"] == ["v1"]
    assert after["slots"]["web-green"] == {"release": "v1", "app_env": "env-sum-2", "image": ""}
    assert after["active"] == "web-green"


def test_serving_slot_not_running_switches_to_the_other_slot():
    record = state("web", ["v1"], web="v1")
    chosen = plan(record, "v1", running=[])
    assert chosen["switch"] is True
    assert chosen["target"] == "web-green"
    # The idle slot never held a release before: both slots run the current one.
    assert chosen["slot_releases"] == {"web": "v1", "web-green": "v1"}


def test_a_failed_run_leaves_the_record_and_the_next_run_retries_the_same_slot():
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    failed = plan(record, "broken", running=["web-green"])
    assert failed["target"] == "web"
    assert failed["slot_releases"] == {"web": "broken", "web-green": "v2"}
    # The failed slot was stopped and the record not written: the serving slot keeps its release.
    retry = plan(record, "v3", running=["web-green"])
    assert retry["target"] == "web"
    assert retry["slot_releases"] == {"web": "v3", "web-green": "v2"}
    # Deploying the serving release after a failed run changes nothing.
    again = plan(record, "v2", running=["web-green"])
    assert again["switch"] is False
    assert again["target"] == "web-green"
    assert again["slot_releases"] == {"web": "v1", "web-green": "v2"}


def test_rerun_of_the_newest_release_does_not_repeat_it_in_the_history():
    record = state("web", ["v1"], web="v1")
    after = release_state_after(record, "web-green", "v1", "env-sum-2")
    assert after["history"] == ["v1"]


def test_history_keeps_the_newest_entries():
    record = state("web", [f"v{n}" for n in range(1, HISTORY_MAX + 1)], web=f"v{HISTORY_MAX}")
    after = release_state_after(record, "web-green", "v-new", ENV)
    assert len(after["history"]) == HISTORY_MAX
    assert after["history"][0] == "v2"
    assert after["history"][-1] == "v-new"


def test_rollback_goes_to_the_previous_release_in_the_idle_slot():
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    back = rollback_plan(record, SLOTS)
    assert back == {
        "problem": "",
        "active": "web-green",
        "target": "web",
        "target_release": "v1",
        "slot_releases": {"web": "v1", "web-green": "v2"},
    }
    after = release_state_after(record, back["target"], back["target_release"], ENV, rollback=True)
    assert after == state("web", ["v1"], web="v1", web_green="v2")


def test_second_rollback_goes_one_release_further_back():
    record = state("web", ["v1", "v2", "v3"], web="v3", web_green="v2")
    first = rollback_plan(record, SLOTS)
    assert (first["target"], first["target_release"]) == ("web-green", "v2")
    record = release_state_after(record, first["target"], first["target_release"], ENV, rollback=True)
    assert record["history"] == ["v1", "v2"]
    second = rollback_plan(record, SLOTS)
    assert (second["target"], second["target_release"]) == ("web", "v1")
    assert second["slot_releases"] == {"web": "v1", "web-green": "v2"}
    record = release_state_after(record, second["target"], second["target_release"], ENV, rollback=True)
    assert record == state("web", ["v1"], web="v1", web_green="v2")
    assert "Nothing to roll back to" in rollback_plan(record, SLOTS)["problem"]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(release_state(""), id="before-the-first-release"),
        pytest.param(state("web", ["v1"], web="v1"), id="one-release"),
        pytest.param(state("", ["v1", "v2"]), id="nothing-serving"),
    ],
)
def test_nothing_to_roll_back_to(record):
    back = rollback_plan(record, SLOTS)
    assert back["problem"].startswith("Nothing to roll back to: the release history on this host is")
    assert str(record["history"]) in back["problem"]
    assert back["target"] == ""


def test_a_rollback_after_a_failed_run_uses_the_record_not_the_failed_slot():
    # v2 serves in web-green; a failed `broken` run left web stopped with the broken image configured.
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    back = rollback_plan(record, SLOTS)
    assert back["slot_releases"] == {"web": "v1", "web-green": "v2"}


def test_same_label_with_a_new_image_is_a_new_release():
    record = release_state_after(state("web", ["v1"], web="v1"), "web", "v1", ENV, image="sha256:aaa")
    rerun = release_plan(record, SLOTS, "v1", ENV, ["web"], image="sha256:aaa")
    assert rerun["switch"] is False
    rebuilt = release_plan(record, SLOTS, "v1", ENV, ["web"], image="sha256:bbb")
    assert (rebuilt["switch"], rebuilt["target"]) == (True, "web-green")
    after = release_state_after(record, "web-green", "v1", ENV, image="sha256:bbb")
    assert after["history"] == ["v1"]
    assert after["slots"]["web-green"]["image"] == "sha256:bbb"


def interrupted(record, target, release, **kwargs):
    """The record on the host after a run stopped right after nginx was pointed at the target."""
    return json.loads(json.dumps(release_state_pending(record, target, release, ENV, **kwargs)))


def test_a_switch_interrupted_after_the_reload_is_completed_from_the_pending_record():
    record = state("web", ["v1"], web="v1")
    on_host = interrupted(record, "web-green", "v2", image="sha256:v2")
    assert on_host["active"] == "web"
    fixed = release_reconcile(release_state(json.dumps(on_host)), routed="web-green")
    assert fixed["interrupted"] is True
    assert fixed["state"] == release_state_after(record, "web-green", "v2", ENV, image="sha256:v2")
    # The next release goes to the slot nginx no longer routes to, never to the serving one.
    nxt = release_plan(fixed["state"], SLOTS, "v3", ENV, ["web", "web-green"], image="sha256:v3")
    assert (nxt["switch"], nxt["target"]) == (True, "web")
    # A rollback goes back to v1 in the slot that does not serve.
    back = rollback_plan(fixed["state"], SLOTS)
    assert (back["target"], back["target_release"]) == ("web", "v1")


def test_an_interrupted_rollback_is_completed_as_a_rollback():
    record = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    on_host = interrupted(record, "web", "v1", rollback=True)
    fixed = release_reconcile(on_host, routed="web")
    assert fixed["state"]["active"] == "web"
    assert fixed["state"]["history"] == ["v1"]


@pytest.mark.parametrize(
    ("record", "routed"),
    [
        pytest.param(state("web", ["v1"], web="v1"), "web", id="consistent"),
        pytest.param(release_state(""), "web", id="before-the-first-release"),
        pytest.param(state("web", ["v1"], web="v1"), "", id="no-upstream-file"),
        # Stopped before the reload: nginx still routes to the recorded slot; the stale pending is ignored.
        pytest.param(
            interrupted(state("web", ["v1"], web="v1"), "web-green", "v2"), "web", id="before-the-reload"
        ),
    ],
)
def test_nothing_to_reconcile(record, routed):
    assert release_reconcile(record, routed) == {"state": record, "interrupted": False}


def test_a_routed_slot_the_record_does_not_know_becomes_the_serving_one():
    record = state("web", ["v1"], web="v1", web_green="v0")
    fixed = release_reconcile(record, routed="web-green")
    assert fixed["interrupted"] is True
    assert fixed["state"]["active"] == "web-green"
    # Its release is unknown: any deploy switches, and it goes to the other slot.
    nxt = release_plan(fixed["state"], SLOTS, "v0", ENV, ["web", "web-green"])
    assert (nxt["switch"], nxt["target"]) == (True, "web")


def test_prune_keeps_the_newest_releases_the_slots_and_the_current_release():
    record = state("web", ["v1", "v2", "v3", "v4", "v5"], web="v5", web_green="v2")
    tags = ["v1", "v2", "v3", "v4", "v5", "v0", "<none>", "hotfix"]
    removed = release_prune(tags, record, "v5", {"web": "v5", "web-green": "v2"}, keep=2, release="hotfix")
    assert removed == ["v1", "v3", "v0"]


def test_prune_counts_this_runs_release_as_the_newest():
    record = state("web", ["v1", "v2"], web="v2", web_green="v1")
    removed = release_prune(["v1", "v2", "v3"], record, "v3", {"web": "v2", "web-green": "v3"}, "2", "v3")
    assert removed == ["v1"]


def test_prune_of_a_fresh_host_removes_nothing_of_ours():
    assert (
        release_prune(["<none>", "v1"], release_state(""), "v1", {"web": "v1", "web-green": "v1"}, 5, "v1")
        == []
    )


def test_current_releases_keep_every_slot_as_recorded():
    current = state("web-green", ["v1", "v2"], web="v1", web_green="v2")
    assert release_current(current, SLOTS) == {
        "slot_releases": {"web": "v1", "web-green": "v2"},
        "release": "v2",
    }
    # A slot that never held a release runs the serving one's image.
    first = release_current(state("web", ["v1"], web="v1"), SLOTS)
    assert first["slot_releases"] == {"web": "v1", "web-green": "v1"}


def test_every_filter_is_registered_under_its_own_name():
    filters = FilterModule().filters()
    assert {name: function.__name__ for name, function in filters.items()} == {name: name for name in filters}


# What django-migration-linter 6.0.0 prints (management command lintmigrations, --quiet ok not given).
LINT_OUTPUT = """(core, 0001_initial)... OK
(core, 0002_probe_note)... OK
(core, 0003_remove_probe_note)... ERR
\tDROPPING columns (table: core_probe, column: note)
(core, 0004_rename)... ERR (cached)
\tRENAMING tables
\tNOT NULL constraint on columns (table: core_probe, column: size)
(auth, 0012_alter_user_first_name_max_length)... WARNING
\tALTERING columns (Could be backward compatible. You may ignore this migration.)
*** Summary ***
Valid migrations: 2/5
Erroneous migrations: 2/5
"""


def test_the_refused_migrations_are_named_with_their_problems():
    assert migration_lint_errors(LINT_OUTPUT) == [
        "core.0003_remove_probe_note: DROPPING columns (table: core_probe, column: note)",
        "core.0004_rename: RENAMING tables; NOT NULL constraint on columns (table: core_probe, column: size)",
    ]


@pytest.mark.parametrize(
    "output",
    [
        "",
        "(core, 0001_initial)... OK\n*** Summary ***\nValid migrations: 1/1\n",
        "Traceback (most recent call last):\n",
    ],
    ids=["nothing", "all-ok", "crash"],
)
def test_nothing_is_named_when_nothing_was_refused(output):
    assert migration_lint_errors(output) == []


def test_a_warning_after_an_error_is_not_taken_for_one_of_its_problems():
    output = "(a, 0001_x)... ERR\n\tDROPPING table\n(a, 0002_y)... WARNING\n\tsomething\n"
    assert migration_lint_errors(output) == ["a.0001_x: DROPPING table"]


LEAVES_A = {"auth": "0012_alter_user_first_name_max_length", "core": "0002_probe_note"}
LEAVES_B = {"auth": "0012_alter_user_first_name_max_length", "core": "0003_remove_probe_note"}
UNSAFE_B = ["core.0003_remove_probe_note: DROPPING columns (table: core_probe, column: note)"]


def records(**entries):
    return json.dumps(
        {name: {"leaves": leaves, "unsafe": unsafe} for name, (leaves, unsafe) in entries.items()}
    )


def test_the_schema_record_keeps_the_releases_of_the_history_only():
    text = records(old=({}, []), a=(LEAVES_A, []))
    updated = schema_record(text, "b", LEAVES_B, UNSAFE_B, keep=["a", "b"])
    assert updated == {"a": {"leaves": LEAVES_A, "unsafe": []}, "b": {"leaves": LEAVES_B, "unsafe": UNSAFE_B}}
    assert schema_record("", "first", LEAVES_A, [], keep=[]) == {"first": {"leaves": LEAVES_A, "unsafe": []}}


def test_a_rollback_over_expand_only_migrations_needs_nothing():
    text = records(a=(LEAVES_A, []), b=(LEAVES_B, []))
    assert rollback_schema_check(text, serving="b", target="a") == {"problem": "", "reverse": []}


def test_a_rollback_over_a_dropped_column_names_it_and_what_to_reverse():
    check = rollback_schema_check(records(a=(LEAVES_A, []), b=(LEAVES_B, UNSAFE_B)), serving="b", target="a")
    assert "Release a cannot run on the current schema" in check["problem"]
    assert "core.0003_remove_probe_note: DROPPING columns" in check["problem"]
    assert check["reverse"] == [["core", "0002_probe_note"]]


def test_an_app_the_target_had_no_migration_of_is_reversed_to_zero():
    unsafe = ["shop.0002_drop: DROPPING table", "shop.0003_x: RENAMING tables", *UNSAFE_B]
    check = rollback_schema_check(records(a=(LEAVES_A, []), b=(LEAVES_B, unsafe)), serving="b", target="a")
    assert check["reverse"] == [["shop", "zero"], ["core", "0002_probe_note"]]


def test_without_a_record_of_the_target_there_is_nothing_to_reverse_to():
    check = rollback_schema_check(records(b=(LEAVES_B, UNSAFE_B)), serving="b", target="a")
    assert check["problem"]
    assert check["reverse"] == []


@pytest.mark.parametrize("text", ["", records(a=(LEAVES_A, []))], ids=["no-record", "serving-unknown"])
def test_a_serving_release_without_a_record_passes(text):
    assert rollback_schema_check(text, serving="b", target="a") == {"problem": "", "reverse": []}
