"""The stack on a three-node Docker Swarm, converged by site.yml (project_engine swarm, 3 web replicas).

In file order: what the converge built, then a rolling update under keep-alive load, an update whose new
replicas fail their healthcheck (Swarm rolls it back), a backup, maintenance mode, rollback.yml back to the
converge's release (and refused once no older release is on record), and last the loss of a worker host.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

from conftest import (
    DB_NODE,
    FIRST,
    MANAGER,
    NODES,
    PROJECT,
    WORKER,
    ReleaseWatch,
    deploy,
    get,
    node_sh,
    output_of,
    real_clients,
    record_metric,
    running_web_nodes,
    tcp_open,
    wait_for,
    web_tasks,
)
from helpers import SITE_PLAYBOOK, break_healthz, repo_copy, run_playbook

SWARM_PORTS = {"2377/tcp", "7946/tcp", "7946/udp", "4789/udp"}
PLAYBOOKS = SITE_PLAYBOOK.parent


def node_tcp_open(node: str, address: str, port: int) -> bool:
    """A TCP connect from a node (bash's /dev/tcp, 3 s at most)."""
    probe = node_sh(node, f"timeout 3 bash -c 'echo > /dev/tcp/{address}/{port}'", check=False)
    return probe.returncode == 0


def assert_no_failures(results: dict) -> None:
    failed = {
        name: (r["connection_errors"], r["non_2xx"])
        for name, r in results.items()
        if r["connection_errors"] or r["non_2xx"]
    }
    assert not failed, results
    assert all(r["requests"] > 0 for r in results.values()), results


def test_every_node_is_in_the_swarm_with_its_labels():
    out = node_sh(MANAGER, "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'").stdout
    nodes = dict(line.split(" ", 1) for line in out.splitlines())
    assert set(nodes) == set(NODES)
    assert all(state.startswith("Ready") for state in nodes.values()), nodes
    assert nodes[MANAGER].strip() == "Ready Leader"
    labels = {
        node: json.loads(
            node_sh(MANAGER, f"docker node inspect --format '{{{{json .Spec.Labels}}}}' {node}").stdout
        )
        for node in NODES
    }
    assert labels[MANAGER] == {f"{PROJECT}.edge": "true"}
    assert labels[DB_NODE] == {f"{PROJECT}.db": "true"}
    assert labels[WORKER] == {}


def test_three_web_replicas_run_on_at_least_two_nodes():
    nodes = running_web_nodes()
    assert len(nodes) == 3, web_tasks()
    assert len(set(nodes)) >= 2, nodes


def test_the_database_runs_on_its_labelled_node_and_publishes_nothing():
    out = node_sh(
        MANAGER, f"docker service ps --filter desired-state=running --format '{{{{.Node}}}}' {PROJECT}_db"
    ).stdout
    assert out.split() == [DB_NODE]
    ports = node_sh(
        MANAGER, f"docker service inspect --format '{{{{json .Endpoint.Ports}}}}' {PROJECT}_db"
    ).stdout
    assert ports.strip() in ("null", "[]")


def test_the_site_answers_over_https_through_the_edge():
    reply = get("/")
    assert reply.status == 200
    assert reply.header("X-App-Release") == FIRST
    ready = get("/readyz")
    assert ready.status == 200, ready.body
    assert json.loads(ready.body)["release"] == FIRST
    # Static files come from the app (WhiteNoise): the edge holds no static volume.
    assert get("/static/favicon.ico").status == 200


def test_the_database_port_is_reachable_from_no_node_address():
    for node, address in NODES.items():
        assert not tcp_open(address, 5432), f"5432 answers on {node} ({address}) from outside"
        other = MANAGER if node != MANAGER else WORKER
        assert not node_tcp_open(other, address, 5432), f"5432 answers on {node} ({address}) from {other}"


def test_the_swarm_ports_are_open_between_nodes_only():
    # From a node: the manager's cluster port and a worker's gossip port answer.
    assert node_tcp_open(WORKER, NODES[MANAGER], 2377)
    assert node_tcp_open(MANAGER, NODES[WORKER], 7946)
    # From the control node, which is on the same network but no node: nothing answers.
    for address in NODES.values():
        for port in (2377, 7946):
            assert not tcp_open(address, port), f"{address}:{port} answers a stranger"
    # ufw allows each Swarm port from the other nodes' addresses and from nowhere else.
    for node, address in NODES.items():
        rules = node_sh(node, "ufw status").stdout.splitlines()
        swarm_rules = [line.split() for line in rules if line.split()[:1] and line.split()[0] in SWARM_PORTS]
        assert {rule[0] for rule in swarm_rules} == SWARM_PORTS, rules
        sources = {rule[2] for rule in swarm_rules}
        assert sources == set(NODES.values()) - {address}, rules


def test_secrets_are_swarm_secrets_never_in_the_service_definition():
    spec = node_sh(MANAGER, f"docker service inspect {PROJECT}_web {PROJECT}_db {PROJECT}_migrate").stdout
    # The vault values of group_vars/all/swarm.yml, generated in the scenario's ephemeral directory.
    secrets_dir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
    values = {p.name: p.read_text().strip() for p in secrets_dir.iterdir()}
    assert {"django_secret_key", "postgres_password", "postgres_app_password", "email_host_password"} <= set(
        values
    )
    for name, value in values.items():
        assert value not in spec, f"{name} appears in docker service inspect"
    # The app reads them from files: a web task holds each, and the SMTP password is the vault's.
    node = running_web_nodes()[0]
    cid = node_sh(
        node, f"docker ps -q --filter label=com.docker.swarm.service.name={PROJECT}_web | head -n1"
    ).stdout
    listing = node_sh(node, f"docker exec {cid.strip()} ls /run/secrets").stdout.split()
    assert sorted(listing) == ["DJANGO_SECRET_KEY", "EMAIL_HOST_PASSWORD", "POSTGRES_PASSWORD"]
    smtp = node_sh(node, f"docker exec {cid.strip()} cat /run/secrets/EMAIL_HOST_PASSWORD").stdout
    assert smtp == values["email_host_password"]


def test_the_optional_superuser_was_created_once():
    """vault_superuser_password set: the converge created the superuser through a web task (the idempotence
    run, which changed nothing, found the marker)."""
    admins = db_sql("SELECT username FROM auth_user WHERE is_superuser")
    assert admins.split() == ["admin"], admins  # stack_superuser_username's default


def test_rolling_update_under_keepalive_load_fails_no_request(tmp_path):
    """site.yml with a new release label: the migrate job, then web replaced one replica at a time under
    keep-alive HTTP/1.1 and HTTP/2 clients (GETs of / and /healthz, POSTs): no failed request or connection,
    and the answers switch to the new release."""
    with real_clients(tmp_path, min_requests=2_000, max_seconds=600) as clients:
        time.sleep(3)
        started = time.monotonic()
        result = deploy("swarm-2")
        took = time.monotonic() - started
        time.sleep(3)
        results = clients.stop()
    assert result.returncode == 0, output_of(result)[-4000:]
    record_metric("rolling_update_seconds", round(took, 1))
    record_metric("rolling_update_clients", results)
    assert_no_failures(results)
    assert clients.releases_seen() == [FIRST, "swarm-2"], results
    assert get("/").header("X-App-Release") == "swarm-2"
    assert len(running_web_nodes()) == 3


def test_an_update_failing_its_healthcheck_is_rolled_back_and_the_play_names_it(tmp_path):
    """Watched by one keep-alive connection (the full load is the rolling update's): every answer a 200 from
    the serving release while Swarm starts the broken replica, sees it fail and rolls back."""
    source = repo_copy(tmp_path / "repo")
    break_healthz(source)
    with ReleaseWatch() as watch:
        started = time.monotonic()
        result = deploy("broken-health", stack_repo_dir=str(source))
        took = time.monotonic() - started
    out = output_of(result)
    assert result.returncode != 0, out[-3000:]
    assert "Release broken-health NOT deployed: web's rolling update failed" in out, out[-3000:]
    assert "rolled the update back" in out
    record_metric("rolled_back_update_seconds", round(took, 1))
    record_metric("rolled_back_update_answers", watch.summary())
    assert watch.failures() == [], watch.failures()[:10]
    assert watch.releases_seen() == ["swarm-2"], watch.releases_seen()
    assert get("/").header("X-App-Release") == "swarm-2"


def db_sql(sql: str) -> str:
    """One SQL statement through psql in the database task, on the database node."""
    task = f"$(docker ps --quiet --filter label=com.docker.swarm.service.name={PROJECT}_db)"
    psql = 'psql --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --tuples-only --no-align --command "$0"'
    return node_sh(DB_NODE, f"docker exec {task} sh -c '{psql}' \"{sql}\"").stdout.strip()


PROBE_TABLE = (
    "CREATE TABLE restore_probe AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 5000) g"
)
PROBE_SUM = "SELECT count(*) || ' ' || md5(string_agg(note, ',' ORDER BY id)) FROM restore_probe"


def test_a_backup_then_a_restore_run_on_the_database_node():
    """backup.yml dumps on the database node; restore.yml, confirmed by naming that node (the refusals of
    other names are the release scenario's), brings back a table dropped since, with the edge in maintenance
    mode meanwhile and back to normal after it."""
    db_sql(PROBE_TABLE)
    before = db_sql(PROBE_SUM)
    result = run_playbook(PLAYBOOKS / "backup.yml", timeout=600)
    assert result.returncode == 0, output_of(result)[-3000:]
    dumps = node_sh(DB_NODE, f"ls /var/backups/{PROJECT}").stdout.split()
    assert any(name.endswith(".dump") for name in dumps), dumps
    db_sql("DROP TABLE restore_probe")

    started = time.monotonic()
    result = run_playbook(PLAYBOOKS / "restore.yml", {"backup_restore_confirm": DB_NODE}, timeout=600)
    record_metric("restore_seconds", round(time.monotonic() - started, 1))
    out = output_of(result)
    assert result.returncode == 0, out[-4000:]
    assert db_sql(PROBE_SUM) == before
    assert "no migration to apply" in out, out[-3000:]
    # Maintenance mode went on at the edge node for the restore (delegated from the database node).
    turned_on = rf"Turn maintenance mode on\][^\n]*\n(?:.*\n)?changed: \[{DB_NODE} -> {MANAGER}\]"
    assert re.search(turned_on, out), out[-3000:]
    reply = get("/")
    assert (reply.status, reply.header("X-App-Release")) == (200, "swarm-2")


def nginx_processes() -> tuple[str, list[str]]:
    """The edge node's nginx container and the PIDs in it: a reload starts new workers, a restart a new
    container."""
    cid = node_sh(
        MANAGER, f"docker ps --quiet --filter label=com.docker.swarm.service.name={PROJECT}_nginx"
    ).stdout.strip()
    top = node_sh(MANAGER, f"docker top {cid} -o pid").stdout.split()[1:]
    return cid, sorted(top)


def migrate_image() -> str:
    fmt = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    return node_sh(MANAGER, f"docker service inspect --format '{fmt}' {PROJECT}_migrate").stdout.strip()


def test_maintenance_mode_answers_503_on_the_edge_without_django_then_off():
    """maintenance.yml on: nginx on the edge node answers 503 with Retry-After and the page, nothing reaches
    Django (no release header), and nginx was neither reloaded nor restarted; off: 200 again."""
    before = nginx_processes()
    started = time.monotonic()
    result = run_playbook(PLAYBOOKS / "maintenance.yml", {"maintenance": "on"}, timeout=300)
    record_metric("maintenance_on_seconds", round(time.monotonic() - started, 1))
    assert result.returncode == 0, output_of(result)[-3000:]
    try:
        for path in ("/", "/healthz"):
            reply = get(path)
            assert reply.status == 503, (path, reply.status)
            assert int(reply.header("Retry-After")) > 0
            assert "Down for maintenance" in reply.body.decode()
            assert reply.header("X-App-Release") == ""
        assert nginx_processes() == before
    finally:
        result = run_playbook(PLAYBOOKS / "maintenance.yml", {"maintenance": "off"}, timeout=300)
    assert result.returncode == 0, output_of(result)[-3000:]
    reply = get("/")
    assert (reply.status, reply.header("X-App-Release")) == (200, "swarm-2")


def test_rollback_returns_every_replica_to_the_previous_release():
    """rollback.yml after the rolling update (the converge's release, then swarm-2; the release Swarm rolled
    back was never recorded): web alone rolls back to the converge's release, every answer meanwhile is a 200
    over one keep-alive connection, and every answer after it comes from that release."""
    migrate_before = migrate_image()
    with ReleaseWatch() as watch:
        started = time.monotonic()
        result = run_playbook(PLAYBOOKS / "rollback.yml", timeout=600)
        took = time.monotonic() - started
    assert result.returncode == 0, output_of(result)[-4000:]
    record_metric("rollback_seconds", round(took, 1))
    record_metric("rollback_answers", watch.summary())
    assert watch.failures() == [], watch.failures()[:10]
    assert watch.releases_seen() == ["swarm-2", FIRST], watch.releases_seen()
    assert {get("/").header("X-App-Release") for _ in range(30)} == {FIRST}
    assert len(running_web_nodes()) == 3
    # No migration: the migrate job is as it was (a new definition would run it).
    assert migrate_image() == migrate_before


def test_a_second_rollback_with_no_older_release_is_refused_naming_why():
    result = run_playbook(PLAYBOOKS / "rollback.yml", timeout=300)
    out = output_of(result)
    assert result.returncode != 0, out[-3000:]
    assert f"Nothing to roll back to: the release history on this Swarm is ['{FIRST}']" in out, out[-3000:]
    assert get("/").header("X-App-Release") == FIRST


def test_a_playbook_built_for_one_host_only_is_refused_before_any_change():
    result = run_playbook(PLAYBOOKS / "upgrade-postgres.yml", {"postgres_target": "18"}, timeout=300)
    assert result.returncode != 0
    assert "this playbook runs with Compose only so far" in output_of(result), output_of(result)[-3000:]
    assert get("/").header("X-App-Release") == FIRST


def test_a_lost_worker_host_has_its_replicas_rescheduled(tmp_path):
    """The worker's container stops (the host goes away): its replica starts elsewhere within seconds, and
    the site keeps answering under keep-alive load."""
    assert WORKER in running_web_nodes()
    with real_clients(tmp_path, min_requests=1_000, max_seconds=300) as clients:
        time.sleep(3)
        stopped = subprocess.run(  # noqa: S603 - the container itself, from outside
            ["docker", "stop", "--time", "5", WORKER],  # noqa: S607 - docker from PATH
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        took = wait_for(
            lambda: len(running_web_nodes()) == 3 and WORKER not in running_web_nodes(),
            timeout=180,
            interval=1,
            what="3 web replicas on the remaining nodes",
        )
        time.sleep(3)
        results = clients.stop()
    record_metric("reschedule_seconds", round(took, 1))
    record_metric("reschedule_clients", results)
    # Requests in flight on the lost host's replicas, or sent to them in the second before nginx resolves
    # `web` again, fail (docs/benchmarks.md has the figure); every other one is answered.
    requests = sum(r["requests"] for r in results.values())
    failed = sum(r["connection_errors"] + r["non_2xx"] for r in results.values())
    assert requests > 0, results
    assert failed <= requests / 100, results
    assert get("/readyz").status == 200
