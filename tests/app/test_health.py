"""/healthz and /readyz: answered first, for any Host, over plain HTTP, with the release label."""

import json
import time

import pytest
from app_support import free_port, run_python
from django.conf import settings
from django.db import connection

READYZ_IN_SUBPROCESS = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/readyz", headers={"host": "10.0.0.5:8000"})
print(json.dumps({"status": response.status_code, "body": json.loads(response.content)}))
"""


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_liveness_answers_any_host_over_http_without_the_database(client, path):
    # No django_db mark: pytest-django turns any database access into an error.
    response = client.get(path, headers={"host": "172.17.0.3:8000"})  # not in ALLOWED_HOSTS, not HTTPS
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "release": settings.APP_RELEASE}
    assert response["X-App-Release"] == settings.APP_RELEASE
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readiness_ok_when_migrated(client):
    response = client.get("/readyz", headers={"host": "127.0.0.1:8000"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "release": settings.APP_RELEASE}
    assert response["X-App-Release"] == settings.APP_RELEASE


@pytest.mark.django_db
def test_readiness_503_with_an_unapplied_migration(client):
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DELETE FROM django_migrations WHERE app = 'sessions' AND name = '0001_initial'")
    response = client.get("/readyz/", headers={"host": "127.0.0.1:8000"})
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"] == "unapplied migrations"
    assert body["migrations"] == ["sessions.0001_initial"]


def test_readiness_503_when_the_database_is_unreachable():
    closed_port = free_port()  # nothing listens there once the probe socket is closed
    started = time.monotonic()
    result = run_python(
        READYZ_IN_SUBPROCESS,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/djangoapp",
        DJANGO_DB_POOL_TIMEOUT="2",
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == 503
    assert outcome["body"] == {
        "status": "unavailable",
        "reason": "database unavailable",
        "release": "subprocess-release",
    }
    # Bounded by the pool timeout, not by a hanging connect.
    assert time.monotonic() - started < 20


def test_readiness_503_when_unreachable_without_pool():
    result = run_python(
        READYZ_IN_SUBPROCESS,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/djangoapp",
        DJANGO_DB_POOL="false",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["status"] == 503


@pytest.mark.django_db
def test_every_response_carries_the_release_header(https_client, client):
    responses = [
        https_client.get("/"),
        https_client.get("/no-such-page/"),
        client.get("/"),  # the HTTPS redirect
        https_client.get("/static/css/site.css"),
    ]
    assert [r.status_code for r in responses] == [200, 404, 301, 200]
    for response in responses:
        assert response["X-App-Release"] == settings.APP_RELEASE


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_carry_the_security_headers(https_client, path):
    response = https_client.get(path, headers={"host": "10.0.0.5:8000"})
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith(f"max-age={settings.SECURE_HSTS_SECONDS}")


PAGE_IN_SUBPROCESS = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/", secure=True, headers={"host": "localhost"})
print(json.dumps({
    "status": response.status_code,
    "retry_after": response.get("Retry-After"),
    "release": response.get("X-App-Release"),
    "body": response.content.decode(),
}))
"""


@pytest.mark.parametrize("pool", ["true", "false"])
def test_pages_answer_a_friendly_503_when_the_database_is_unreachable(pool):
    result = run_python(
        PAGE_IN_SUBPROCESS,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/djangoapp",
        DJANGO_DB_POOL=pool,
        DJANGO_DB_POOL_TIMEOUT="2",
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == 503, outcome["body"][:300]
    assert int(outcome["retry_after"]) > 0
    assert outcome["release"] == "subprocess-release"
    assert "Temporarily unavailable" in outcome["body"]
    assert "Traceback" not in outcome["body"]
