"""Releases without downtime, rollback, backups and recovery from faults, on a converged host.

The tests run in file order and build on each other: release `molecule` (converge) -> `v2` (deployed under
load) -> two broken releases (refused, never serving) -> rollback to `molecule` -> `v3` stopped right after
the switch, then `v4` and a rollback to `v3` -> maintenance -> backup and restore -> faults -> host restart.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime

from conftest import (
    HOST,
    PROJECT,
    ROOT,
    Load,
    ProcessLoad,
    RealClients,
    compose,
    container_of,
    containers_of,
    get,
    host_sh,
    output_of,
    playbook,
    playbook_background,
    psql,
    record_metric,
    site_ok,
    slots_record,
    wait_for,
)
from helpers import break_healthz

FIRST = "molecule"  # molecule/shared/host_vars/molecule-release.yml
SECOND = "v2"
THIRD, FOURTH = "v3", "v4"
LOCK_DIR = f"{ROOT}/state/deploy.lock"


def active_slot() -> str:
    return slots_record()["active"]


def upstream_service() -> str:
    """The slot nginx routes to: the target of the link `live` beside the slots' sockets."""
    return host_sh(f"readlink {ROOT}/run/live").stdout.strip()


# What nginx logs as the upstream of every proxied request: the socket of the serving slot's web container,
# behind the link (several containers per slot are the default scenario's).
LIVE_SOCKETS = {"unix:/run/app/live/gunicorn.sock"}
REPLICAS = 1


def assert_no_failures(clients: RealClients, expected_releases: list[str]) -> None:
    """Every keep-alive client got only 2xx answers and no socket error, over at least 50,000 requests."""
    results = clients.results
    assert clients.failures == {}, results
    assert clients.requests >= 50_000, results
    assert clients.releases_seen() == expected_releases, results
    assert set(results["wrk-post"]["statuses"]) == {"204"}, results


# nginx's access line (log_format `site`, ansible/roles/nginx/files/snippets/log-format.conf): time, status,
# user agent, the upstream that answered and its X-App-Release.
NGINX_ACCESS = re.compile(
    r'^\S+ - \S+ \[(?P<time>[^\]]+)\] "[^"]*" (?P<status>\d{3}) \d+ "[^"]*" "(?P<agent>[^"]*)" '
    r"rt=[0-9.]+ upstream=(?P<upstream>\S+) upstream_status=\S+ upstream_rt=\S+ release=(?P<release>\S+) "
)


def nginx_access(since: float) -> list[dict[str, str]]:
    """The access lines nginx wrote from the second of `since` (a time.time()) on, parsed. By time, not by
    position: Docker rotates the log (LOG_MAX_SIZE) while a load of this size runs."""
    out = compose("logs", "--no-color", "--no-log-prefix", "nginx").stdout
    logs = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out).splitlines()
    entries = [m.groupdict() for m in map(NGINX_ACCESS.match, logs) if m]
    start = int(since)
    return [e for e in entries if datetime.strptime(e["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp() >= start]


def test_first_release_serves():
    record = slots_record()
    assert record["active"] == "web"
    assert record["slots"]["web"]["release"] == FIRST
    assert record["history"] == [FIRST]
    since = time.time()
    replies = [get("/") for _ in range(10)]
    assert {(r.status, r.header("X-App-Release")) for r in replies} == {(200, FIRST)}
    assert upstream_service() == "web"
    assert len(containers_of("web")) == REPLICAS
    assert {e["upstream"] for e in nginx_access(since)} == LIVE_SOCKETS


def test_zero_downtime_release_under_load_and_the_deploy_lock(tmp_path):
    """deploy.yml ships v2 under keep-alive HTTP/1.1 and HTTP/2 clients (GETs and POSTs) and new connections:
    no failed request or connection, the responses switch to v2; a second deploy started meanwhile is refused
    by the lock and changes nothing."""
    with Load(rate=40, threads=4) as load, RealClients(workdir=tmp_path) as clients:
        time.sleep(3)  # steady state before the deploy
        started = time.monotonic()
        first = playbook_background("deploy", {"stack_release": SECOND}, tmp_path / "deploy.log", nice=True)
        # The second run starts while the first holds the lock.
        wait_for(
            lambda: host_sh(f"test -d {LOCK_DIR}", check=False).returncode == 0 or first.poll() is not None,
            timeout=300,
            interval=0.2,
            what="the first deploy taking the lock",
        )
        second = playbook("deploy", {"stack_release": "v2-concurrent"}, timeout=600, nice=True)
        first.wait(timeout=900)
        finished = time.monotonic()
        time.sleep(3)  # keep the load on after the switch
        clients.stop()
    log = (tmp_path / "deploy.log").read_text(encoding="utf-8")
    assert first.returncode == 0, log[-4000:]
    assert second.returncode != 0, output_of(second)[-3000:]
    assert "Another deploy is running on this host" in output_of(second), output_of(second)[-3000:]
    assert "held by" in output_of(second)
    # Refused before anything changed; the lock is gone after the first run.
    assert host_sh(f"test -e {LOCK_DIR}", check=False).returncode != 0
    assert host_sh(f"docker image inspect {PROJECT}/web:v2-concurrent", check=False).returncode != 0

    summary = load.summary()
    v2_at = load.first_seen(SECOND)
    record_metric("deploy_load", summary)
    record_metric("deploy_keepalive_clients", clients.results)
    record_metric("deploy_seconds_total", round(finished - started, 1))
    record_metric("deploy_start_to_new_version_s", round(v2_at - started, 1) if v2_at else None)
    assert load.errors == [], summary
    assert summary["releases_seen"] == [FIRST, SECOND], summary
    assert_no_failures(clients, [FIRST, SECOND])
    # After the switch only v2 answers.
    tail = [r for r in load.records if r[0] > finished]
    assert tail, summary
    assert {r[3] for r in tail} == {SECOND}

    record = slots_record()
    assert record["active"] == "web-green"
    assert record["history"] == [FIRST, SECOND]
    assert upstream_service() == "web-green"
    assert len(containers_of("web-green")) == REPLICAS
    # The previous slot's containers are stopped, not removed (rollback starts them again).
    old = containers_of("web", running_only=False)
    assert len(old) == REPLICAS
    states = host_sh(f"docker inspect --format '{{{{.State.Status}}}}' {' '.join(old)}").stdout.split()
    assert states == ["exited"] * REPLICAS


def test_release_failing_its_healthcheck_never_receives_traffic(release_source, tmp_path):
    source = release_source()
    break_healthz(source)

    since = time.time()
    with Load(rate=40, threads=4) as load, RealClients(workdir=tmp_path) as clients:
        result = playbook(
            "deploy",
            {
                "stack_release": "broken-health",
                "stack_repo_dir": str(source),
                "stack_release_wait_timeout": 25,
            },
        )
        clients.stop()
    out = output_of(result)
    assert result.returncode != 0, out[-3000:]
    assert "Release broken-health NOT deployed: slot web failed its healthcheck" in out, out[-3000:]
    assert "keeps serving" in out
    assert load.errors == [], load.summary()
    assert set(load.releases()) == {SECOND}, load.summary()
    assert_no_failures(clients, [SECOND])
    # nginx never pointed at it: every request of the loads that nginx logged meanwhile went to the serving
    # socket and was answered by SECOND.
    assert upstream_service() == "web-green"
    assert slots_record()["active"] == "web-green"
    # 499: requests in flight when the test stopped its own clients.
    during = [
        e for e in nginx_access(since) if e["agent"].startswith("molecule-release") and e["status"] != "499"
    ]
    assert during, load.summary()
    assert {e["release"] for e in during} == {SECOND}, during[:5]
    assert {e["upstream"] for e in during} <= LIVE_SOCKETS, during[:5]
    assert container_of("web") == ""  # stopped after the failure
    assert get("/").header("X-App-Release") == SECOND
    record_metric("broken_health_load", load.summary())
    record_metric("broken_health_keepalive_clients", clients.results)


def test_release_whose_migration_fails_never_receives_traffic(release_source):
    source = release_source()
    migrations = source / "app" / "core" / "migrations"
    migrations.mkdir()
    (migrations / "__init__.py").write_text("", encoding="utf-8")
    (migrations / "0001_fails.py").write_text(
        "from django.db import migrations\n\n\n"
        "def fail(apps, schema_editor):\n"
        '    raise RuntimeError("deliberately failing migration")\n\n\n'
        "class Migration(migrations.Migration):\n"
        "    operations = [migrations.RunPython(fail)]\n",
        encoding="utf-8",
    )
    result = playbook("deploy", {"stack_release": "broken-migration", "stack_repo_dir": str(source)})
    out = output_of(result)
    assert result.returncode != 0, out[-3000:]
    assert "Release broken-migration NOT deployed: its migrations failed" in out, out[-3000:]
    assert "deliberately failing migration" in out
    assert upstream_service() == "web-green"
    assert slots_record()["active"] == "web-green"
    reply = get("/")
    assert reply.status == 200
    assert reply.header("X-App-Release") == SECOND
    assert get("/readyz").status == 200


def test_rollback_returns_to_the_previous_release_in_seconds(tmp_path):
    with Load(rate=40, threads=4) as load, RealClients(workdir=tmp_path) as clients:
        started = time.monotonic()
        result = playbook("rollback")
        elapsed = time.monotonic() - started
        time.sleep(2)
        clients.stop()
    assert result.returncode == 0, output_of(result)[-3000:]
    back_at = load.first_seen(FIRST)
    record_metric("rollback_playbook_seconds", round(elapsed, 1))
    record_metric("rollback_start_to_previous_version_s", round(back_at - started, 1) if back_at else None)
    record_metric("rollback_load", load.summary())
    record_metric("rollback_keepalive_clients", clients.results)
    assert load.errors == [], load.summary()
    assert_no_failures(clients, [SECOND, FIRST])
    assert get("/").header("X-App-Release") == FIRST
    record = slots_record()
    assert record["active"] == "web"
    assert record["history"] == [FIRST]
    assert upstream_service() == "web"


def test_an_interrupted_switch_never_leads_the_next_run_onto_the_serving_slot():
    """A release stopped between nginx's switch and the slot record (the test fault point), as a killed run
    would, then deploy.yml and rollback.yml under load: no failed request, the right slot serves each time."""
    with ProcessLoad() as load:
        time.sleep(2)
        stopped = playbook("deploy", {"stack_release": THIRD, "stack_test_fault": "after_switch"}, nice=True)
        routed, record = upstream_service(), slots_record()
        deployed = playbook("deploy", {"stack_release": FOURTH}, nice=True)
        after_deploy = (upstream_service(), slots_record(), get("/").header("X-App-Release"))
        back = playbook("rollback", nice=True)
        time.sleep(2)
    record_metric("interrupted_switch_load", load.summary())

    assert stopped.returncode != 0
    assert "stack_test_fault=after_switch" in output_of(stopped), output_of(stopped)[-3000:]
    # What the stopped run left: nginx routes to the new slot, the record still names the old one.
    assert routed == "web-green"
    assert record["active"] == "web"
    assert record["pending"]["slot"] == "web-green"
    assert record["pending"]["release"] == THIRD

    assert deployed.returncode == 0, output_of(deployed)[-3000:]
    assert "A previous run stopped during a switch" in output_of(deployed)
    upstream, record, serving = after_deploy
    # v4 went to the slot nginx did not route to; v3 (completed from the pending record) is kept for rollback.
    assert upstream == "web"
    assert record["active"] == "web"
    assert record["slots"]["web"]["release"] == FOURTH
    assert record["slots"]["web-green"]["release"] == THIRD
    assert record["history"] == [FIRST, THIRD, FOURTH]
    assert record["pending"] == {}
    assert serving == FOURTH

    assert back.returncode == 0, output_of(back)[-3000:]
    assert upstream_service() == "web-green"
    assert slots_record()["history"] == [FIRST, THIRD]
    assert get("/").header("X-App-Release") == THIRD

    assert load.errors == [], load.summary()
    assert load.releases()[:2] == [FIRST, THIRD], load.summary()
    assert FOURTH in load.releases(), load.summary()


def test_maintenance_mode_on_and_off():
    result = playbook("maintenance", {"maintenance": "on"})
    assert result.returncode == 0, output_of(result)[-3000:]
    reply = get("/")
    assert reply.status == 503
    assert int(reply.header("Retry-After")) > 0
    assert "Down for maintenance" in reply.body.decode()
    assert get("/admin/login/").status == 503
    # A form sent meanwhile gets the same page (not the static handler's 405 for a POST).
    posted = get("/accounts/login/", method="POST")
    assert posted.status == 503
    assert "Down for maintenance" in posted.body.decode()
    # ACME challenges still reach their location (404: no such token), not the maintenance page.
    assert get("/.well-known/acme-challenge/nothing-here").status == 404

    result = playbook("maintenance", {"maintenance": "off"})
    assert result.returncode == 0, output_of(result)[-3000:]
    assert get("/").status == 200

    refused = playbook("maintenance", {"maintenance": "sometimes"})
    assert refused.returncode != 0
    assert "Pass maintenance=on or maintenance=off" in output_of(refused)


ROWS = 200_000
CREATE_SQL = (
    "DROP TABLE IF EXISTS backup_probe;"
    "CREATE TABLE backup_probe AS"
    " SELECT g AS id, md5(g::text) || repeat('x', 40) AS note FROM generate_series(1, 200000) g;"
)
CHECKSUM_SQL = "SELECT count(*) || ' ' || md5(string_agg(note, ',' ORDER BY id)) FROM backup_probe;"


CONFIRM = {"backup_restore_confirm": HOST}
# A migration of the serving release whose row the dump lacks, safe to apply again (it alters a column type),
# and one of no release at all, as a dump taken after a newer release migrated records it.
OLDER = "auth.0012_alter_user_first_name_max_length"
NEWER = "core.9999_from_a_newer_release"
_OLDER_WHERE = (
    " FROM django_migrations WHERE app = 'auth' AND name = '0012_alter_user_first_name_max_length';"
)
_NEWER_WHERE = " FROM django_migrations WHERE app = 'core' AND name = '9999_from_a_newer_release'"
OLDER_ROWS, DROP_OLDER = "SELECT count(*)" + _OLDER_WHERE, "DELETE" + _OLDER_WHERE
NEWER_ROWS, DROP_NEWER = "SELECT count(*)" + _NEWER_WHERE, "DELETE" + _NEWER_WHERE
ADD_NEWER = (
    "INSERT INTO django_migrations (app, name, applied) VALUES ('core', '9999_from_a_newer_release', now());"
)


def test_backup_destroy_volume_restore():
    psql(CREATE_SQL)
    before = psql(CHECKSUM_SQL)
    size = psql("SELECT pg_size_pretty(pg_database_size(current_database()));")
    assert before.startswith(f"{ROWS} ")
    # Two dumps older than the retention window (backup_keep_count is 2): the newer one stays as the second
    # newest, the older one goes with the next backup.
    backups = f"/var/backups/{PROJECT}"
    kept, dropped = f"{PROJECT}-20000102T000000Z.dump", f"{PROJECT}-20000101T000000Z.dump"
    host_sh(f"touch -d '40 days ago' {backups}/{kept} && touch -d '50 days ago' {backups}/{dropped}")
    # Two snapshots of another environment in the same restic repository, taken the same day: a retention
    # that saw them would keep only the newer one (--keep-daily).
    restic = f"set -a; . /etc/{PROJECT}/restic.env; set +a; restic"
    staging = f"--host {PROJECT}-staging --tag {PROJECT}-staging-db"
    host_sh(f"{restic} cat config >/dev/null 2>&1 || {restic} init")
    for _ in range(2):
        host_sh(f"{restic} backup --quiet {staging} /etc/hostname")
    # The dump will be one migration behind the serving release: the restore brings it forward.
    psql(DROP_OLDER)

    started = time.monotonic()
    result = playbook("backup")
    backup_seconds = time.monotonic() - started
    assert result.returncode == 0, output_of(result)[-3000:]
    dumps = host_sh(f"ls -1 {backups}/").stdout.split()
    assert len(dumps) == 2, dumps
    assert kept in dumps
    assert dropped not in dumps
    dump = next(name for name in dumps if name != kept)
    dump_size = int(host_sh(f"stat -c %s {backups}/{dump}").stdout)
    backup_service = host_sh(
        f"journalctl -u {PROJECT}-backup.service --no-pager -o cat | grep '^backup: ' | tail -1"
    )
    # The encrypted off-site copy holds it too.
    sandbox = f"--host {PROJECT}-sandbox --tag {PROJECT}-sandbox-db"
    snapshots = host_sh(f"{restic} snapshots --json {sandbox}").stdout
    assert dump in snapshots
    # The backup's retention left the other environment's snapshots alone.
    assert len(json.loads(host_sh(f"{restic} snapshots --json {staging}").stdout)) == 2

    # Refused before anything changes: no confirmation, a confirmation for another host, a corrupt dump, a
    # missing one.
    for extra in ({}, {"backup_restore_confirm": "web1"}):
        unconfirmed = playbook("restore", extra)
        assert unconfirmed.returncode != 0
        assert f"-e backup_restore_confirm={HOST}" in output_of(unconfirmed), output_of(unconfirmed)[-2000:]
    host_sh(f"head -c 20000 {backups}/{dump} > {backups}/truncated.dump")
    refused = playbook("restore", {**CONFIRM, "backup_restore_file": "truncated.dump"})
    assert refused.returncode != 0
    assert "not a complete pg_dump archive" in output_of(refused), output_of(refused)[-2000:]
    host_sh(f"rm {backups}/truncated.dump")
    missing = playbook("restore", {**CONFIRM, "backup_restore_file": "no-such.dump"})
    assert missing.returncode != 0
    assert "does not exist" in output_of(missing)
    assert psql(CHECKSUM_SQL) == before
    assert host_sh(f"ls -1 {backups}/").stdout.split() == dumps  # no safety dump either

    # Lose the database volume.
    compose("stop", "db")
    compose("rm", "--force", "db")
    host_sh(f"docker volume rm {PROJECT}_pgdata")

    started = time.monotonic()
    result = playbook("restore", CONFIRM)
    restore_seconds = time.monotonic() - started
    out = output_of(result)
    assert result.returncode == 0, out[-3000:]
    assert psql(CHECKSUM_SQL) == before
    # Migrated forward to the serving release, in maintenance mode, which is off again afterwards.
    assert psql(OLDER_ROWS) == "1"
    assert f"migrated forward: Applying {OLDER}" in out, out[-3000:]
    assert re.search(r"TASK \[nginx : Turn maintenance mode on\][^\n]*\n(?:.*\n)?changed:", out), out[-3000:]
    safety = re.search(rf"safety dump of the database before: {backups}/({PROJECT}-\S+\.dump)", out)
    assert safety, out[-3000:]
    assert safety.group(1) in host_sh(f"ls -1 {backups}/").stdout.split()
    wait_for(site_ok, timeout=60, what="/readyz 200 after the restore")
    assert get("/").status == 200

    # A dump taken after a newer release migrated is refused before anything is dropped.
    psql(ADD_NEWER)
    assert playbook("backup").returncode == 0
    psql(DROP_NEWER)
    dumps_before = host_sh(f"ls -1 {backups}/").stdout.split()
    newer = playbook("restore", CONFIRM)
    assert newer.returncode != 0
    assert f"does not have: {NEWER}" in output_of(newer), output_of(newer)[-3000:]
    assert psql(NEWER_ROWS) == "0"
    assert psql(CHECKSUM_SQL) == before
    assert host_sh(f"ls -1 {backups}/").stdout.split() == dumps_before
    host_sh(f"rm {backups}/$(ls -1t {backups} | head -n 1)")  # the next test's restores must not pick it

    record_metric(
        "backup_restore",
        {
            "database_size": size,
            "rows_in_probe_table": ROWS,
            "dump_bytes": dump_size,
            "backup_playbook_s": round(backup_seconds, 1),
            "backup_service_line": backup_service.stdout.strip(),
            "restore_playbook_s": round(restore_seconds, 1),
            "restore_script_s": int(re.search(r"restored in (\d+) s", out).group(1)),
        },
    )


def test_database_stop_gives_503_and_recovers_on_its_own():
    compose("stop", "db")
    try:
        wait_for(lambda: get("/readyz", timeout=20).status == 503, timeout=60, what="/readyz 503")
        page = get("/", timeout=30)
        assert page.status == 503
        assert int(page.header("Retry-After")) > 0
        assert "Temporarily unavailable" in page.body.decode()
        assert "Traceback" not in page.body.decode()
    finally:
        compose("start", "db")
    started = time.monotonic()
    waited = wait_for(lambda: site_ok("/readyz") and site_ok("/"), timeout=90, what="recovery after db start")
    record_metric("db_restart_recovery_s", round(time.monotonic() - started, 1))
    assert waited is not None


def test_crashed_containers_are_restarted():
    """The main process of web, nginx and db is SIGKILLed from the host, as the kernel's OOM killer or a crash
    would (`docker kill` would not do: Docker treats it as a manual stop and never restarts the container)."""
    timings = {}
    for service in (active_slot(), "nginx", "db"):
        before = container_of(service)
        assert before, service
        host_sh(f"kill -KILL \"$(docker inspect --format '{{{{.State.Pid}}}}' {before})\"")
        started = time.monotonic()
        # The same container, restarted by its restart policy.
        wait_for(
            lambda s=service, c=before: c in containers_of(s) and site_ok("/readyz") and site_ok("/"),
            timeout=90,
            what=f"{service} restarted and the site healthy",
        )
        timings[service] = round(time.monotonic() - started, 1)
    record_metric("kill_recovery_s", timings)


def test_host_restart_brings_the_stack_back_within_60_seconds():
    rows_before = psql("SELECT count(*) FROM backup_probe;")
    started = time.monotonic()
    subprocess_restart = host_restart()
    assert subprocess_restart == 0
    waited = wait_for(
        lambda: site_ok("/readyz") and site_ok("/"),
        timeout=120,
        interval=0.5,
        what="the site after a host restart",
    )
    total = time.monotonic() - started
    record_metric("host_restart_to_healthy_s", round(total, 1))
    assert waited is not None
    assert total <= 60, total
    # Every long-running service is back and healthy; the idle slot stayed stopped; data survived.
    for service in ("db", active_slot(), "nginx"):
        wait_for(
            lambda s=service: (
                host_sh(
                    f"docker inspect --format '{{{{.State.Health.Status}}}}' {container_of(s)}"
                ).stdout.strip()
                == "healthy"
            ),
            timeout=60,
            what=f"{service} healthy",
        )
    record = slots_record()
    idle = next(slot for slot in record["slots"] if slot != record["active"])
    assert container_of(idle) == ""
    assert psql("SELECT count(*) FROM backup_probe;") == rows_before
    assert get("/").header("X-App-Release") == record["slots"][record["active"]]["release"]


def host_restart() -> int:
    return subprocess.run(  # noqa: S603
        ["docker", "restart", HOST],  # noqa: S607
        capture_output=True,
        timeout=120,
        check=False,
    ).returncode


# --- the migration gate (last: the releases before know nothing of the table it leaves) -------------------

PROBE_MODEL = """from django.db import models


class Probe(models.Model):
    name = models.CharField(max_length=50)
"""
NOTE_FIELD = "    note = models.CharField(max_length=50, null=True)\n"
MIGRATIONS = {
    "0001_initial.py": """from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Probe",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
    ]
""",
    "0002_probe_note.py": """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="probe", name="note", field=models.CharField(max_length=50, null=True)
        ),
    ]
""",
    "0003_remove_probe_note.py": """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0002_probe_note")]
    operations = [migrations.RemoveField(model_name="probe", name="note")]
""",
}
PROBE_COLUMNS = (
    "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns"
    " WHERE table_name = 'core_probe';"
)


def with_migrations(source, names: list[str], *, note: bool):
    """The release source with the probe model (with or without its `note` column) and these migrations."""
    core = source / "app" / "core"
    (core / "models.py").write_text(PROBE_MODEL + (NOTE_FIELD if note else ""), encoding="utf-8")
    migrations = core / "migrations"
    migrations.mkdir(exist_ok=True)
    (migrations / "__init__.py").write_text("", encoding="utf-8")
    for name in names:
        (migrations / name).write_text(MIGRATIONS[name], encoding="utf-8")
    return source


def test_a_release_adding_a_table_and_a_nullable_column_passes_the_gate_under_load(release_source):
    source = with_migrations(release_source(), ["0001_initial.py", "0002_probe_note.py"], note=True)
    with Load(rate=40, threads=4) as load:
        result = playbook("deploy", {"stack_release": "expand", "stack_repo_dir": str(source)}, nice=True)
        time.sleep(2)
    assert result.returncode == 0, output_of(result)[-3000:]
    record_metric("expand_release_load", load.summary())
    assert load.errors == [], load.summary()
    assert load.releases()[-1] == "expand", load.summary()
    assert psql(PROBE_COLUMNS) == "id,name,note"


def test_a_release_dropping_a_column_is_refused_and_passes_in_maintenance_mode(release_source):
    source = with_migrations(release_source(), list(MIGRATIONS), note=False)
    refused = playbook("deploy", {"stack_release": "contract", "stack_repo_dir": str(source)})
    out = output_of(refused)
    assert refused.returncode != 0, out[-3000:]
    assert "Release contract NOT deployed: its migrations would break the serving release expand" in out, out[
        -3000:
    ]
    assert "core.0003_remove_probe_note: DROPPING columns (table: core_probe, column: note)" in out, out[
        -3000:
    ]
    assert "-e release_mode=maintenance" in out
    # Nothing was migrated or switched.
    assert psql(PROBE_COLUMNS) == "id,name,note"
    assert get("/").header("X-App-Release") == "expand"

    with Load(rate=40, threads=4) as load:
        result = playbook(
            "deploy",
            {"stack_release": "contract", "stack_repo_dir": str(source), "release_mode": "maintenance"},
            nice=True,
        )
        time.sleep(2)
    assert result.returncode == 0, output_of(result)[-3000:]
    record_metric("maintenance_release_load", load.summary())
    # No connection failed; the only answers outside 2xx are the maintenance page's.
    assert [e for e in load.errors if e[2] != "HTTP 503"] == [], load.summary()
    maintenance = [r for r in load.records if r[2] == 503]
    assert maintenance, "the maintenance page never answered during the release"
    assert psql(PROBE_COLUMNS) == "id,name"
    reply = get("/")
    assert (reply.status, reply.header("X-App-Release")) == (200, "contract")


def test_a_rollback_onto_a_schema_the_previous_release_cannot_run_with_reverses_it_first():
    refused = playbook("rollback")
    out = output_of(refused)
    assert refused.returncode != 0, out[-3000:]
    assert "NOT rolled back: Release expand cannot run on the current schema" in out, out[-3000:]
    assert "core.0003_remove_probe_note: DROPPING columns" in out
    assert "-e reverse_migrations=true" in out
    assert get("/").header("X-App-Release") == "contract"
    assert psql(PROBE_COLUMNS) == "id,name"

    with Load(rate=40, threads=4) as load:
        back = playbook("rollback", {"reverse_migrations": True}, nice=True)
        time.sleep(2)
    assert back.returncode == 0, output_of(back)[-3000:]
    record_metric("reversing_rollback_load", load.summary())
    assert [e for e in load.errors if e[2] != "HTTP 503"] == [], load.summary()
    assert psql(PROBE_COLUMNS) == "id,name,note"
    assert (
        psql("SELECT count(*) FROM django_migrations WHERE app = 'core' AND name = '0003_remove_probe_note';")
        == "0"
    )
    reply = get("/")
    assert (reply.status, reply.header("X-App-Release")) == (200, "expand")
