"""Start-up refusals for settings.py: each error names the variable to fix and never echoes its value."""

from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.secret_key import secret_key_problem

HOW_TO_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def check_secret_key(value):
    """Refuse a production SECRET_KEY that is missing, a placeholder, or too weak to sign sessions."""
    problem = secret_key_problem(value)
    if problem:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY {problem} (required when DJANGO_DEBUG is off); {HOW_TO_GENERATE}."
        )


def database_from_url(url):
    """DATABASES entry from DATABASE_URL; PostgreSQL only (the migrations and the pool rely on it)."""
    scheme = urlsplit(url).scheme
    if scheme not in POSTGRES_SCHEMES:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:port/name); "
            f"scheme {scheme or '(none)'!r} is not supported."
        )
    try:
        return dj_database_url.parse(url)
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL is not a valid URL.") from None


def database_from_parts(name, user, password, host, port):
    """DATABASES entry from the discrete POSTGRES_* variables (the names the postgres image uses)."""
    required = {"POSTGRES_DB": name, "POSTGRES_USER": user, "POSTGRES_HOST": host}
    missing = [variable for variable, value in required.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            f"Database settings are missing: set DATABASE_URL, or {', '.join(missing)} "
            "(with POSTGRES_PASSWORD and POSTGRES_PORT as needed)."
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": user,
        "PASSWORD": password,
        "HOST": host,
        "PORT": port,
    }
