"""The stack role's release decisions (docs/runtime/lifecycle.md): which slot a run targets, whether it
switches, what the slot record becomes, which release images go, and where a rollback goes.

Pure functions over the slot record (state/slots.json) and what the tasks observed on the host (running slots,
image tags); the tasks gather those inputs and apply the results. FilterModule maps the filter names to them.

The slot record: {"active": slot or '' before the first release, "slots": {slot: {"release", "app_env",
"image"}}, "history": [releases, newest last], "pending": {} or the switch under way}. The slot names come
from the caller (the role's `_stack_slots`): the first one takes the first release. `pending` is written just
before nginx is pointed at the new slot, so a run interrupted between that switch and the final record
leaves on the host what the new slot holds (release_reconcile).

`migration_lint_errors` reads the release step's migration gate: what django-migration-linter refused.
The schema record (state/schema.json) keeps, per release, the last migration of each app its code has
("leaves") and the migrations its deploy applied that the release before could not run with ("unsafe"):
`schema_record` updates it, `rollback_schema_check` tells whether a rollback's target runs on the current
schema and, when not, which migrations to reverse first.
"""

import json
import re

HISTORY_MAX = 20


def _unique(items):
    return list(dict.fromkeys(items))


def _idle_slot(slots, active):
    return next(slot for slot in slots if slot != active)


def _slot_releases(state, slots, target, target_release):
    """The release each slot runs after this run: the target's new one, the record's for the other slot, and
    the target's for a slot that never held one (its Compose service needs an image all the same)."""
    releases = {slot: (state["slots"].get(slot) or {}).get("release") or target_release for slot in slots}
    releases[target] = target_release
    return releases


def release_current(state, slots):
    """The slots' releases as recorded, for a run that releases nothing but rewrites .env
    (upgrade-postgres.yml): {"slot_releases": {slot: release}, "release": the serving slot's}."""
    active = state["active"]
    release = (state["slots"].get(active) or {}).get("release") or ""
    return {"slot_releases": _slot_releases(state, slots, active, release), "release": release}


def release_state(text):
    """The slot record from the text of state/slots.json; an empty record when there is none yet."""
    record = json.loads(text) if text and text.strip() else {}
    return {
        "active": record.get("active") or "",
        "slots": dict(record.get("slots") or {}),
        "history": list(record.get("history") or []),
        "pending": dict(record.get("pending") or {}),
    }


def release_plan(state, slots, release, app_env, running, image=""):
    """This run's target slot and whether it switches.

    A switch happens when nothing serves yet, when the serving slot is not running, or when the release, the
    app's environment (its checksum app_env) or the app image's ID differs from the serving slot's record (the
    same label rebuilt is a new release); it targets the idle slot (the first slot for the first release).
    Otherwise the serving slot stays: a rerun changes nothing.
    """
    active = state["active"]
    serving = (state["slots"].get(active) or {}) if active else {}
    switch = (
        not active
        or active not in running
        or serving.get("release", "") != release
        or serving.get("app_env", "") != app_env
        or serving.get("image", "") != image
    )
    if not active:
        target = slots[0]
    elif switch:
        target = _idle_slot(slots, active)
    else:
        target = active
    return {
        "active": active,
        "target": target,
        "switch": switch,
        "target_release": release,
        "slot_releases": _slot_releases(state, slots, target, release),
    }


def rollback_plan(state, slots):
    """Back to the release before the serving one, in the idle slot; `problem` says why there is none."""
    active, history = state["active"], state["history"]
    if not active or len(history) < 2:
        return {
            "problem": (
                f"Nothing to roll back to: the release history on this host is {history} (rollback needs the "
                "serving release and one before it)."
            ),
            "active": active,
            "target": "",
            "target_release": "",
            "slot_releases": {},
        }
    target, target_release = _idle_slot(slots, active), history[-2]
    return {
        "problem": "",
        "active": active,
        "target": target,
        "target_release": target_release,
        "slot_releases": _slot_releases(state, slots, target, target_release),
    }


def release_state_after(state, target, release, app_env, rollback=False, image=""):
    """The slot record once the target slot serves the release.

    A new release joins the history (a rerun of the newest does not); a rollback drops the newest entry, so a
    second rollback goes one further back. The history keeps the newest HISTORY_MAX entries.
    """
    history = list(state["history"])
    if rollback:
        history = history[:-1]
    elif history[-1:] != [release]:
        history.append(release)
    return {
        "active": target,
        "slots": {**state["slots"], target: {"release": release, "app_env": app_env, "image": image}},
        "history": history[-HISTORY_MAX:],
        "pending": {},
    }


def release_state_pending(state, target, release, app_env, rollback=False, image=""):
    """The slot record while the switch to the target is under way: unchanged, plus what the target holds."""
    pending = {"slot": target, "release": release, "app_env": app_env, "image": image}
    return {**state, "pending": {**pending, "rollback": bool(rollback)}}


def release_reconcile(state, routed):
    """The slot record corrected to the slot nginx routes to (`routed`, read from its upstream file).

    They differ only when a run stopped between pointing nginx at the new slot and recording it: the switch is
    then completed from `pending`; a routed slot the record knows nothing of serves with an unknown release.
    `interrupted` tells the tasks to make nginx load its upstream and to write the corrected record.
    """
    active = state["active"]
    if not active or not routed or routed == active:
        return {"state": state, "interrupted": False}
    pending = state["pending"]
    if pending.get("slot") == routed:
        fixed = release_state_after(
            state,
            routed,
            pending["release"],
            pending["app_env"],
            rollback=pending.get("rollback", False),
            image=pending.get("image", ""),
        )
    else:
        fixed = {
            **state,
            "active": routed,
            "slots": {**state["slots"], routed: {"release": "", "app_env": "", "image": ""}},
            "pending": {},
        }
    return {"state": fixed, "interrupted": True}


def release_prune(tags, state, target_release, slot_releases, keep, release):
    """The app image tags to remove: all but the newest `keep` releases of the history, what a slot holds and
    this run's release (untagged images are Docker's, not ours)."""
    history = _unique([*state["history"], target_release])
    kept = set(history[-int(keep) :]) | set(slot_releases.values()) | {release}
    return [tag for tag in tags if tag not in kept and tag != "<none>"]


# django-migration-linter's lines: "(app, migration)... ERR" (also "ERR (cached)"), then one tab-indented
# line per problem; other results (OK, WARNING, IGNORE) and the summary end a migration's problems.
_LINT_RESULT = re.compile(r"^\((?P<app>[^,()]+), (?P<name>[^()]+)\)\.\.\. (?P<result>.+)$")


def migration_lint_errors(output):
    """The migrations `lintmigrations` refused, as 'app.migration: problem; problem', in its order."""
    errors, current = [], None
    for line in (output or "").splitlines():
        found = _LINT_RESULT.match(line.strip())
        if found:
            current = None
            if found["result"].startswith("ERR"):
                current = [f"{found['app']}.{found['name']}", []]
                errors.append(current)
        elif current is not None and line.startswith("\t") and line.strip():
            current[1].append(line.strip())
        elif not line.startswith("\t"):
            current = None
    return [f"{name}: {'; '.join(problems) or 'refused'}" for name, problems in errors]


def schema_record(text, release, leaves, unsafe, keep):
    """state/schema.json's content (`text`) with release's entry set and only the releases of `keep` left."""
    records = json.loads(text) if text and text.strip() else {}
    records[release] = {"leaves": dict(leaves), "unsafe": list(unsafe)}
    return {name: entry for name, entry in records.items() if name in set(keep) | {release}}


def rollback_schema_check(text, serving, target):
    """Whether release `target` can run on the schema release `serving` left (state/schema.json's `text`).

    It cannot when the serving release's deploy applied migrations the linter refused (it was deployed in
    maintenance mode): `problem` names them, `reverse` lists the [app, migration] to migrate back to first
    (the target's last migration of each such app, "zero" when it had none), empty when the target's
    migrations are not on record. A serving release with no record (deployed before the record existed)
    passes: there is nothing to go by.
    """
    records = json.loads(text) if text and text.strip() else {}
    unsafe = (records.get(serving) or {}).get("unsafe") or []
    if not unsafe:
        return {"problem": "", "reverse": []}
    apps = _unique(entry.split(".", 1)[0] for entry in unsafe)
    known = records.get(target)
    reverse = [[app, known["leaves"].get(app, "zero")] for app in apps] if known else []
    problem = (
        f"Release {target} cannot run on the current schema: release {serving} applied migrations that the "
        f"release before it cannot run with ({' | '.join(unsafe)})."
    )
    return {"problem": problem, "reverse": reverse}


class FilterModule:
    """The release decisions, by name."""

    def filters(self):
        return {
            "migration_lint_errors": migration_lint_errors,
            "release_current": release_current,
            "release_plan": release_plan,
            "release_prune": release_prune,
            "release_state": release_state,
            "release_reconcile": release_reconcile,
            "release_state_after": release_state_after,
            "release_state_pending": release_state_pending,
            "rollback_plan": rollback_plan,
            "rollback_schema_check": rollback_schema_check,
            "schema_record": schema_record,
        }
