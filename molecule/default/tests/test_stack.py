"""The Compose stack under /srv/<project> (roles tls and stack) after converge + idempotence."""

from __future__ import annotations

import json
import re

import pytest
from conftest import HTTP_PORT, HTTPS_PORT
from helpers import REPO, http_get, molecule_hosts

testinfra_hosts = molecule_hosts()

LONG_RUNNING = {"db", "web", "nginx"}
SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
)


def test_every_service_running_and_healthy(compose_ps):
    assert {c["Service"] for c in compose_ps} >= LONG_RUNNING
    for container in (c for c in compose_ps if c["Service"] in LONG_RUNNING):
        assert container["State"] == "running", container
        assert container["Health"] == "healthy", container
    # The one-shot release step ran and succeeded.
    migrate = [c for c in compose_ps if c["Service"] == "migrate"]
    for container in migrate:
        assert container["State"] == "exited" and container["ExitCode"] == 0, container


def test_only_nginx_publishes_ports_beyond_loopback(compose_ps):
    """nginx alone faces the network; the monitoring UIs are on the host's loopback only (ssh -L)."""
    published = {
        (c["Service"], p["URL"])
        for c in compose_ps
        for p in (c.get("Publishers") or [])
        if p.get("PublishedPort")
    }
    assert {service for service, _ in published} == {"nginx", "prometheus", "alertmanager"}, published
    assert {url for service, url in published if service != "nginx"} == {"127.0.0.1"}, published


def test_env_file_is_private(host, stack_root):
    env = host.file(f"{stack_root}/.env")
    assert env.exists
    assert env.mode == 0o600
    assert env.user == "root"
    assert "POSTGRES_PASSWORD=" in env.content_string


def test_http_redirects_to_https(domain):
    resp = http_get("/", port=HTTP_PORT, host_header=f"{domain}:{HTTP_PORT}", tls=False)
    assert resp.status in (301, 308)
    assert resp.header("Location").startswith(f"https://{domain}")


def test_readyz_over_https_with_security_headers(domain):
    resp = http_get("/readyz", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True)
    assert resp.status == 200, resp.body[:300]
    assert json.loads(resp.body)
    for name in SECURITY_HEADERS:
        assert resp.header(name), f"missing {name}"
    assert "max-age=" in resp.header("Strict-Transport-Security")
    assert resp.header("X-Content-Type-Options") == "nosniff"


def test_landing_page_over_https(domain):
    resp = http_get("/", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True)
    assert resp.status == 200
    assert resp.header("X-App-Release")


def test_nginx_spreads_requests_over_both_web_containers_of_the_slot(
    host, domain, compose_ps, service_container
):
    """project_web_replicas 2 (molecule/shared/host_vars/molecule-host.yml): two web containers, each gunicorn
    on a socket of its own that nginx's upstream lists, and both answer requests."""
    assert len([c for c in compose_ps if c["Service"] == "web"]) == 2
    since = host.check_output("date +%s")
    for _ in range(20):
        assert (
            http_get("/readyz", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True).status == 200
        )
    logs = host.check_output("docker logs --since %s %s 2>&1", since, service_container("nginx"))
    upstreams = set(re.findall(r" upstream=(\S+) ", logs))
    assert upstreams == {"unix:/run/app/live/gunicorn.sock", "unix:/run/app/live/gunicorn-2.sock"}, logs[
        -2000:
    ]


def test_admin_login_page_over_https(domain):
    resp = http_get("/admin/login/", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True)
    assert resp.status == 200
    assert b"csrfmiddlewaretoken" in resp.body


@pytest.fixture(scope="module")
def hashed_static_path(host, service_container) -> str:
    """A hashed static file name from the manifest collectstatic wrote into the static volume."""
    manifest = json.loads(
        host.check_output("docker exec %s cat /srv/static/staticfiles.json", service_container("nginx"))
    )
    paths = manifest["paths"]
    original = next((p for p in paths if p.endswith(".css")), next(iter(paths)))
    return paths[original]


def test_static_file_served_by_nginx(domain, hashed_static_path):
    resp = http_get(
        f"/static/{hashed_static_path}", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True
    )
    assert resp.status == 200
    assert "immutable" in resp.header("Cache-Control")
    # Django (gunicorn) marks its responses with the release; nginx answered this one alone.
    assert not resp.header("X-App-Release")
    assert resp.header("X-Content-Type-Options") == "nosniff"


def test_postgres_publishes_nothing(host, service_container):
    ports = host.check_output("docker port %s", service_container("db"))
    assert ports.strip() == ""


def _db_address(host, db_container: str) -> str:
    networks = json.loads(
        host.check_output("docker inspect --format '{{json .NetworkSettings.Networks}}' %s", db_container)
    )
    assert len(networks) == 1, f"db must sit on its backend network only: {list(networks)}"
    return next(iter(networks.values()))["IPAddress"]


def test_postgres_unreachable_from_the_host(host, service_container):
    """The host has no route of its own to the db container (no address on the backend bridge) and no port
    answers on loopback.

    Checked by routing rather than by probing the container's address: with no local route, such a packet
    would leave the machine through the default gateway, and tests send traffic only to loopback or to
    their own containers.
    """
    db = service_container("db")
    route = host.check_output("ip -4 -o route get %s", _db_address(host, db))
    assert not re.search(r"\bdev (docker0|br-)", route), f"the host routes to db through a bridge: {route}"
    image = host.check_output("docker inspect --format '{{.Config.Image}}' %s", db)
    # pg_isready speaks the PostgreSQL protocol: a bare TCP connect is not proof.
    probe = host.run(
        f"docker run --rm --network host --entrypoint pg_isready {image} -h 127.0.0.1 -p 5432 -t 3"
    )
    assert probe.rc != 0, f"the host reaches postgres on 127.0.0.1:5432: {probe.stdout}"


def test_postgres_unreachable_from_another_network(host, service_container, project):
    """Other networks (nginx's frontend, the default bridge) cannot resolve db, and their traffic to its
    address is routed by the host, which has no route to it (test above)."""
    image = host.check_output("docker inspect --format '{{.Config.Image}}' %s", service_container("db"))
    for network in (f"{project}_frontend", "bridge"):
        by_name = host.run(f"docker run --rm --network {network} --entrypoint getent {image} hosts db")
        assert by_name.rc != 0, f"db resolves from network {network}: {by_name.stdout}"


def test_database_kept_its_data_across_the_second_converge(host, service_container):
    """side_effect.yml wrote a marker row after the first converge; the idempotence run came after it."""
    db = service_container("db")
    out = host.check_output(
        "docker exec %s sh -c %s",
        db,
        'psql -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT note FROM molecule_marker"',
    )
    assert "written before the second converge" in out


APP_ROLE_PROBE = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    )
    print(*cursor.fetchone())
for statement in (
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "CREATE ROLE molecule_intruder",
    "SELECT pg_read_file('/etc/passwd')",
):
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
        print("ALLOWED", statement)
    except Exception as error:
        print("REFUSED", str(error).splitlines()[0])
"""


def test_the_app_connects_as_a_role_without_superuser_rights(host, service_container):
    """The app's own database role (stack role, files/db-app-role.sh): it owns the schema, nothing more."""
    db = service_container("db")
    app_user = host.check_output("docker exec %s printenv POSTGRES_APP_USER", db).strip()
    superuser = host.check_output("docker exec %s printenv POSTGRES_USER", db).strip()
    assert app_user and app_user != superuser
    web = service_container("web")
    out = host.check_output("docker exec %s python manage.py shell -c %s", web, APP_ROLE_PROBE)
    # Django's shell may first say what it imported automatically.
    assert f"{app_user} False False False" in out.splitlines(), out
    assert "ALLOWED" not in out, out
    assert "permission denied to COPY to or from an external program" in out
    assert "permission denied to create role" in out
    assert "permission denied for function pg_read_file" in out
    # Every table the migrations made belongs to the app's role.
    owners = host.check_output(
        "docker exec %s sh -c %s",
        db,
        'psql -XAt -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c '
        "\"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'\"",
    )
    assert owners.split() == [app_user]


def test_the_role_step_hands_the_superusers_tables_to_the_app(host, service_container):
    """What an earlier release left owned by the superuser is given to the app's role; a second run changes
    nothing (the script the role pipes into the db container, run the same way)."""
    db = service_container("db")
    script = (REPO / "ansible/roles/stack/files/db-app-role.sh").read_text(encoding="utf-8")
    run_script = f"docker exec -i {db} sh -s <<'ROLE_SCRIPT'\n{script}ROLE_SCRIPT\n"
    superuser_sql = (
        "CREATE TABLE molecule_legacy (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);"
        " CREATE SEQUENCE molecule_legacy_counter;"
    )
    as_superuser = f'psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "{superuser_sql}"'
    host.check_output("docker exec %s sh -c %s", db, as_superuser)
    try:
        first = host.check_output(run_script)
        assert "ALTER TABLE" in first and "ALTER SEQUENCE" in first, first
        owners = host.check_output(
            "docker exec %s sh -c %s",
            db,
            'psql -XAt -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT DISTINCT pg_get_userbyid(relowner)'
            " FROM pg_class WHERE relname LIKE 'molecule_legacy%'\"",
        )
        assert owners.split() == [host.check_output("docker exec %s printenv POSTGRES_APP_USER", db).strip()]
        assert host.check_output(run_script).strip() == ""
    finally:
        host.run(
            "docker exec %s sh -c %s",
            db,
            'psql -X -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c'
            ' "DROP TABLE IF EXISTS molecule_legacy; DROP SEQUENCE IF EXISTS molecule_legacy_counter"',
        )
