"""Failed logins lock out a username from one address (django-axes), never the same user elsewhere."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from conftest import PROXIED_HTTPS
from django.core.management import call_command
from django.db.models import F
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-42"
NGINX = "172.30.80.5"  # an address of the frontend network, the only trusted proxy in these tests
ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
LOGIN_PATHS = ["/accounts/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def trusted_nginx(settings):
    from config.env import networks

    settings.TRUSTED_PROXIES = networks("172.30.80.0/24")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", PASSWORD)


def client_from(address, peer=NGINX):
    """A browser behind nginx: nginx's own address as the TCP peer, the client's in X-Real-IP."""
    return Client(REMOTE_ADDR=peer, headers={**PROXIED_HTTPS, "X-Real-IP": address})


def attempt(client, path, password):
    form = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()).group(1)
    return client.post(
        path, {"username": "admin", "password": password, "csrfmiddlewaretoken": token, "next": "/"}
    )


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_twenty_wrong_passwords_are_locked_out_and_the_owner_elsewhere_still_logs_in(admin_user, path):
    attacker = client_from(ATTACKER)
    statuses = [attempt(attacker, path, f"wrong-{n}").status_code for n in range(20)]
    # Four form errors, then the fifth failure locks: every further attempt is refused unchecked.
    assert statuses == [200] * 4 + [429] * 16
    locked = attempt(attacker, path, PASSWORD)
    assert locked.status_code == 429, "the right password got through a lockout"
    assert locked["Retry-After"] == "900"
    assert "Слишком много неудачных попыток входа" in locked.content.decode()
    assert "_auth_user_id" not in attacker.session

    owner = client_from(OWNER)
    response = attempt(owner, path, PASSWORD)
    assert response.status_code == 302, "the lockout of one address reached another"
    assert int(owner.session["_auth_user_id"]) == admin_user.pk


def test_the_lockout_is_logged_with_the_address_and_the_username_masked(admin_user, caplog):
    attacker = client_from(ATTACKER)
    for n in range(5):
        attempt(attacker, "/accounts/login/", f"wrong-{n}")
    lines = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    lockouts = [line for line in lines if "Locking out" in line]
    assert len(lockouts) == 1, lines
    assert f'ip_address: "{ATTACKER}"' in lockouts[0]
    assert '"admin"' not in lockouts[0]


def test_the_lock_expires_after_the_cooloff(admin_user):
    attacker = client_from(ATTACKER)
    for n in range(5):
        attempt(attacker, "/accounts/login/", f"wrong-{n}")
    assert attempt(attacker, "/accounts/login/", PASSWORD).status_code == 429
    # The failures as if made sixteen minutes ago (the cool-off is 15): the same address may log in again.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert attempt(attacker, "/accounts/login/", PASSWORD).status_code == 302


def test_the_documented_command_lifts_the_lock(admin_user):
    attacker = client_from(ATTACKER)
    for n in range(5):
        attempt(attacker, "/accounts/login/", f"wrong-{n}")
    assert attempt(attacker, "/accounts/login/", PASSWORD).status_code == 429
    call_command("axes_reset_username", "admin")
    assert attempt(attacker, "/accounts/login/", PASSWORD).status_code == 302


def test_a_client_cannot_choose_its_address_unless_it_is_the_trusted_proxy(admin_user):
    # Sent straight to gunicorn (not from nginx): a fresh X-Real-IP per attempt changes nothing.
    statuses = [
        attempt(client_from(f"192.0.2.{n}", peer=ATTACKER), "/accounts/login/", "wrong").status_code
        for n in range(6)
    ]
    assert statuses == [200] * 4 + [429] * 2
    # From the trusted proxy, a malformed X-Real-IP falls back to the proxy's own address.
    bogus = client_from("not-an-address")
    assert [attempt(bogus, "/accounts/login/", "wrong").status_code for _ in range(5)][-1] == 429
    assert attempt(client_from(OWNER), "/accounts/login/", PASSWORD).status_code == 302


def test_nginx_on_gunicorns_unix_socket_is_the_trusted_proxy(admin_user, settings):
    """In the stack nginx reaches gunicorn over the slot's Unix socket: gunicorn gives such a peer an empty
    REMOTE_ADDR, and its X-Real-IP is the client's even with no trusted network configured."""
    settings.TRUSTED_PROXIES = []
    attacker = client_from(ATTACKER, peer="")
    assert [attempt(attacker, "/accounts/login/", f"wrong-{n}").status_code for n in range(5)][-1] == 429
    assert AccessAttempt.objects.filter(ip_address=ATTACKER).exists()
    assert attempt(client_from(OWNER, peer=""), "/accounts/login/", PASSWORD).status_code == 302
