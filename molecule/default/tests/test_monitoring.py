"""The monitoring profile (role monitoring; molecule/shared/host_vars/molecule-host.yml turns it on with 5 s
scrapes): Prometheus scrapes every target, the app's metrics move with requests and never show through the
public site, and stopping the database fires PostgresDown at a webhook receiver this module runs on the
`alerting` network."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse

import pytest
from conftest import HTTPS_PORT
from helpers import SITE_PLAYBOOK, container_ip, http_get, molecule_hosts, run_playbook

testinfra_hosts = molecule_hosts()

JOBS = {"web", "nginx", "postgres", "node", "prometheus", "alertmanager"}
SERVICES = {"prometheus", "alertmanager", "node-exporter", "postgres-exporter", "nginx-exporter"}
APP_REQUESTS = "sum(django_http_requests_total_by_view_transport_method_total)"
RECEIVER = "alert-receiver"  # monitoring_webhook_url of host_vars/molecule-host.yml
RECEIVER_SCRIPT = """
import http.server, sys

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sys.stdout.write(body.decode() + "\\n")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

http.server.HTTPServer(("0.0.0.0", 39099), Hook).serve_forever()
"""


def serving_slot(host, project: str) -> str:
    """The release slot nginx routes to (the link `live` beside the slots' sockets)."""
    return host.check_output(f"readlink /srv/{project}/run/live").strip()


def query(host, expr: str) -> list[dict]:
    """An instant query through Prometheus's port on the host's loopback."""
    out = host.check_output(
        "curl --silent --fail --max-time 10 http://127.0.0.1:9090/api/v1/query?query=%s",
        urllib.parse.quote(expr, safe=""),
    )
    reply = json.loads(out)
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def value(host, expr: str) -> float:
    result = query(host, expr)
    return float(result[0]["value"][1]) if result else 0.0


def wait_for(check, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def test_every_target_is_up(host):
    def all_up():
        up = {r["metric"]["job"]: r["value"][1] for r in query(host, "up")}
        return up if set(up) == JOBS and set(up.values()) == {"1"} else None

    try:
        wait_for(all_up, 90, "every job up")
    except AssertionError:
        raise AssertionError(query(host, "up")) from None


def test_the_app_and_nginx_metrics_move_with_requests(host, domain):
    app_before = value(host, APP_REQUESTS)
    nginx_before = value(host, "sum(nginx_http_requests_total)")
    for _ in range(25):
        assert http_get("/", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True).status == 200
    wait_for(
        lambda: value(host, APP_REQUESTS) >= app_before + 25,
        60,
        "django_http_requests_total up by 25",
    )
    nginx_after = nginx_before + 25
    wait_for(lambda: value(host, "sum(nginx_http_requests_total)") >= nginx_after, 60, "nginx requests +25")


def test_metrics_are_not_public(host, project, domain, service_container):
    # The site proxies every path to Django, which has no /metrics.
    assert http_get("/metrics", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True).status == 404
    # Served inside the monitoring network only: the serving slot answers on its metrics port...
    web = service_container(serving_slot(host, project))
    metrics = host.check_output(
        "docker exec %s python -c %s",
        web,
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9464/', timeout=5).read().decode())",
    )
    assert "django_http_requests_total_by_view_transport_method_total" in metrics
    # ...while from outside the host neither it nor the UIs nor the exporters are reachable.
    address = container_ip("molecule-host")
    for port in (9464, 9090, 9093, 9100, 9187, 9113, 8080):
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, port)) != 0, f"port {port} of the host answers from outside"
    # nginx's status page answers the monitoring network only, never a request from the frontend network.
    nginx = service_container("nginx")
    status = host.run(
        "docker exec %s bash -c %s",
        nginx,
        "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /stub_status HTTP/1.0\\r\\n\\r\\n' >&3 "
        "&& head -n 1 <&3",
    )
    assert " 403 " in status.stdout, status.stdout


def test_selfcheck_findings_reach_prometheus(host, project):
    host.run(f"systemctl start {project}-selfcheck.service")
    wait_for(
        lambda: value(host, "tls_certificate_not_after_timestamp_seconds") > time.time(),
        60,
        "the certificate's expiry as a metric",
    )


@pytest.fixture
def receiver(host, project, service_container):
    """The alerts Alertmanager posted, as a function returning the JSON bodies."""
    # The app image has a Python: the receiver runs in it.
    image = host.check_output(
        "docker inspect --format '{{.Config.Image}}' %s", service_container(serving_slot(host, project))
    )
    host.run(f"docker rm --force {RECEIVER}")
    host.check_output(
        "docker run --detach --name %s --network %s_alerting --entrypoint python %s -c %s",
        RECEIVER,
        project,
        image,
        RECEIVER_SCRIPT,
    )

    def received() -> list[dict]:
        out = host.run(f"docker logs {RECEIVER}").stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    yield received
    host.run(f"docker rm --force {RECEIVER}")


def test_stopping_the_database_fires_postgres_down(host, project, receiver):
    def fired():
        return [
            a
            for body in receiver()
            for a in body["alerts"]
            if a["labels"]["alertname"] == "PostgresDown" and a["status"] == "firing"
        ]

    host.check_output(f"docker compose --project-name {project} stop db")
    try:
        alerts = wait_for(fired, 180, "PostgresDown at the webhook", interval=3)
    finally:
        host.check_output(f"docker compose --project-name {project} start db")
    assert alerts[0]["labels"]["severity"] == "critical", alerts
    assert alerts[0]["annotations"]["summary"], alerts
    # The site recovers on its own; the alert is resolved.
    wait_for(lambda: value(host, "pg_up") == 1.0, 90, "pg_up back to 1")


def test_the_profile_off_removes_its_containers_and_on_brings_them_back(host, project, domain):
    """Last: the others need the profile running."""

    def profile_containers() -> set[str]:
        out = host.check_output(
            "docker ps --all --filter label=com.docker.compose.project=%s "
            "--format '{{.Label \"com.docker.compose.service\"}}'",
            project,
        )
        return set(out.split()) & SERVICES

    assert profile_containers() == SERVICES
    off = run_playbook(SITE_PLAYBOOK, {"project_monitoring": False}, tags="monitoring")
    assert off.returncode == 0, off.stdout[-3000:]
    assert profile_containers() == set()
    # The history stays; the rest of the stack is untouched.
    assert host.run(f"docker volume inspect {project}_prometheus").rc == 0
    assert http_get("/readyz", port=HTTPS_PORT, host_header=f"{domain}:{HTTPS_PORT}", tls=True).status == 200

    on = run_playbook(SITE_PLAYBOOK, tags="monitoring")
    assert on.returncode == 0, on.stdout[-3000:]
    assert profile_containers() == SERVICES
    wait_for(lambda: {r["metric"]["job"] for r in query(host, "up == 1")} == JOBS, 90, "every job up again")
