"""Start-up refusals and production checks, each in a fresh interpreter with a crafted environment."""

import json
import shutil

import pytest
from app_support import APP_DIR, run_manage, run_python

DUMP_DATABASE = """
import json, django
django.setup()
from django.conf import settings
db = dict(settings.DATABASES["default"])
db.pop("TEST", None)
print(json.dumps(db, default=str))
"""

WEAK_KEY_49 = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y"  # 49 characters


def assert_refused(result, *fragments, not_echoed=None):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "ImproperlyConfigured" in output, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    if not_echoed:
        assert not_echoed not in output, "the offending value was echoed"


@pytest.mark.parametrize(
    ("overrides", "fragments", "secret"),
    [
        pytest.param(
            {"DJANGO_SECRET_KEY": None}, ["DJANGO_SECRET_KEY", "is not set"], None, id="key-missing"
        ),
        pytest.param({"DJANGO_SECRET_KEY": ""}, ["DJANGO_SECRET_KEY", "is not set"], None, id="key-empty"),
        pytest.param(
            {"DJANGO_SECRET_KEY": "change-me"}, ["DJANGO_SECRET_KEY", "placeholder"], None, id="change-me"
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": "secret"}, ["DJANGO_SECRET_KEY", "placeholder"], None, id="secret"
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": "django-insecure-" + "x7Kq2" * 12},
            ["DJANGO_SECRET_KEY", "placeholder"],
            "x7Kq2x7Kq2",
            id="django-insecure",
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": "please-changeme-to-something-long-and-random-0123456789abcdef"},
            ["DJANGO_SECRET_KEY", "placeholder"],
            "something-long-and-random",
            id="changeme-inside-long-key",
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": WEAK_KEY_49},
            ["DJANGO_SECRET_KEY", "shorter than 50"],
            WEAK_KEY_49,
            id="short",
        ),
        pytest.param(
            {"DJANGO_SECRET_KEY": "ab" * 30},
            ["DJANGO_SECRET_KEY", "distinct characters"],
            "abab",
            id="low-variety",
        ),
        pytest.param(
            {"DJANGO_ALLOWED_HOSTS": None}, ["DJANGO_ALLOWED_HOSTS", "empty"], None, id="hosts-missing"
        ),
        pytest.param(
            {"DJANGO_ALLOWED_HOSTS": " , "}, ["DJANGO_ALLOWED_HOSTS", "empty"], None, id="hosts-blank"
        ),
        pytest.param(
            {"DATABASE_URL": None},
            [
                "Database settings are missing",
                "DATABASE_URL",
                "POSTGRES_DB",
                "POSTGRES_USER",
                "POSTGRES_HOST",
            ],
            None,
            id="database-missing",
        ),
        pytest.param(
            {"DATABASE_URL": None, "POSTGRES_DB": "app", "POSTGRES_PASSWORD": "pw-not-echoed"},
            ["POSTGRES_USER, POSTGRES_HOST"],
            "pw-not-echoed",
            id="database-partial",
        ),
        pytest.param(
            {"DATABASE_URL": "sqlite:///db.sqlite3"},
            ["DATABASE_URL", "PostgreSQL", "'sqlite'"],
            None,
            id="sqlite",
        ),
        pytest.param(
            {"DATABASE_URL": "mysql://app:hunter22@db/app"},
            ["DATABASE_URL", "PostgreSQL"],
            "hunter22",
            id="mysql",
        ),
        pytest.param({"DJANGO_DEBUG": "maybe"}, ["DJANGO_DEBUG", "boolean"], None, id="debug-not-bool"),
        pytest.param(
            {"DJANGO_LOG_FORMAT": "xml"}, ["DJANGO_LOG_FORMAT", "plain, json"], None, id="log-format"
        ),
        pytest.param(
            {"DJANGO_EMAIL_BACKEND": "sendmail"}, ["DJANGO_EMAIL_BACKEND"], None, id="email-backend"
        ),
        pytest.param(
            {"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, ["EMAIL_USE_SSL"], None, id="tls-and-ssl"
        ),
        pytest.param({"GUNICORN_THREADS": "four"}, ["GUNICORN_THREADS", "integer"], None, id="not-int"),
        pytest.param(
            {"DJANGO_AXES_FAILURE_LIMIT": "0"}, ["DJANGO_AXES_FAILURE_LIMIT", "positive"], None, id="limit-0"
        ),
        pytest.param(
            {"DJANGO_AXES_COOLOFF_MINUTES": "-5"},
            ["DJANGO_AXES_COOLOFF_MINUTES", "positive"],
            None,
            id="cooloff-negative",
        ),
        pytest.param(
            {"DJANGO_TRUSTED_PROXIES": "172.30.80.0/24,172.30.300.0/24"},
            ["DJANGO_TRUSTED_PROXIES", "IP addresses or networks"],
            "172.30.300",
            id="trusted-proxies",
        ),
    ],
)
def test_refuses_to_start(overrides, fragments, secret):
    assert_refused(run_manage("check", **overrides), *fragments, not_echoed=secret)


def test_production_environment_starts():
    result = run_manage("check")
    assert result.returncode == 0, result.stderr


def test_debug_relaxes_secret_key_hosts_and_https():
    relaxed = run_manage("check", DJANGO_DEBUG="true", DJANGO_SECRET_KEY=None, DJANGO_ALLOWED_HOSTS=None)
    assert relaxed.returncode == 0, relaxed.stderr
    code = """
import django
django.setup()
from django.conf import settings as s
print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)
"""
    # Plain-HTTP runserver works out of the box; browsers remember no HSTS for localhost.
    assert run_python(code, DJANGO_DEBUG="true").stdout.split() == ["False", "False", "False", "0"]
    # Missing database settings are refused in development too: there is nothing sensible to default to.
    assert_refused(run_manage("check", DJANGO_DEBUG="true", DATABASE_URL=None), "DATABASE_URL")


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_on_a_weakened_setting():
    # The check is real: dropping HSTS or the HTTPS redirect must make it fail.
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECURE_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W008" in result.stderr


def dump_database(**overrides):
    result = run_python(DUMP_DATABASE, **overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_database_from_postgres_variables():
    db = dump_database(
        DATABASE_URL=None,
        POSTGRES_DB="app",
        POSTGRES_USER="app_user",
        POSTGRES_PASSWORD="pw",
        POSTGRES_HOST="db",
        POSTGRES_PORT="6543",
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "app",
        "app_user",
        "pw",
        "db",
        6543,
    )


def test_database_url_with_pool_by_default():
    db = dump_database(DATABASE_URL="postgres://u:p%40ss@dbhost:5433/name?sslmode=require")
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "name",
        "u",
        "p@ss",
        "dbhost",
        5433,
    )
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["OPTIONS"]["connect_timeout"] == 5
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10.0}
    assert db["CONN_MAX_AGE"] == 0
    assert db["CONN_HEALTH_CHECKS"] is True


def test_pool_follows_gunicorn_threads_and_can_be_tuned():
    db = dump_database(GUNICORN_THREADS="8", DJANGO_DB_POOL_MIN_SIZE="2", DJANGO_DB_POOL_TIMEOUT="3")
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 8, "timeout": 3.0}


def test_persistent_connections_instead_of_pool():
    db = dump_database(DJANGO_DB_POOL="false", DJANGO_DB_CONN_MAX_AGE="120")
    assert "pool" not in db["OPTIONS"]
    assert db["CONN_MAX_AGE"] == 120
    assert db["CONN_HEALTH_CHECKS"] is True


def test_defaults_and_overrides_of_locale_and_security():
    code = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({k: getattr(s, k) for k in (
    "DEBUG", "LANGUAGE_CODE", "TIME_ZONE", "USE_TZ", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "CSRF_TRUSTED_ORIGINS",
    "ALLOWED_HOSTS", "STATIC_ROOT", "MEDIA_ROOT", "EMAIL_BACKEND", "USE_X_FORWARDED_HOST")}))
"""
    result = run_python(code, DJANGO_MEDIA_ROOT="/srv/media")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert (values["LANGUAGE_CODE"], values["TIME_ZONE"], values["USE_TZ"]) == ("ru", "Europe/Moscow", True)
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 63072000
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["USE_X_FORWARDED_HOST"] is False
    assert values["MEDIA_ROOT"] == "/srv/media"
    assert values["EMAIL_BACKEND"] == "core.mail.ConsoleEmailBackend"

    result = run_python(
        code,
        DJANGO_LANGUAGE_CODE="en",
        DJANGO_TIME_ZONE="UTC",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://example.org, https://www.example.org",
        DJANGO_ALLOWED_HOSTS="example.org,www.example.org",
        DJANGO_EMAIL_BACKEND="smtp",
        DJANGO_STATIC_ROOT="/srv/static",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert (values["LANGUAGE_CODE"], values["TIME_ZONE"]) == ("en", "UTC")
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://example.org", "https://www.example.org"]
    assert values["ALLOWED_HOSTS"] == ["example.org", "www.example.org"]
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["STATIC_ROOT"] == "/srv/static"


def test_env_files_are_not_read(tmp_path):
    """Only the process environment configures the app: a .env beside the code changes nothing,
    although python-decouple's stock AutoConfig would pick it up from there."""
    package = tmp_path / "config"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(APP_DIR / "config" / "env.py", package / "env.py")
    (tmp_path / ".env").write_text("DJANGO_SECRET_KEY=from-a-dotenv-file\n")
    code = f"""
import decouple
from config.env import config
print(config("DJANGO_SECRET_KEY", default="unset"))
print(decouple.AutoConfig(search_path={str(package)!r})("DJANGO_SECRET_KEY", default="unset"))
"""
    result = run_python(code, DJANGO_SECRET_KEY=None, PYTHONPATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["unset", "from-a-dotenv-file"]
