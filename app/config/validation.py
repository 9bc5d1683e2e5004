"""Start-up refusals for settings.py: each error names the variable to fix and never echoes its value."""

from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

SECRET_KEY_MIN_LENGTH = 50
HOW_TO_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
# Values copied from examples and tutorials; a fragment anywhere in the key counts.
PLACEHOLDER_SECRET_KEYS = {
    "secret",
    "secret-key",
    "secretkey",
    "your-secret-key",
    "django-secret-key",
    "insecure",
}
PLACEHOLDER_FRAGMENTS = ("change-me", "changeme", "change_me", "changethis", "replace-me", "replaceme")
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def check_secret_key(value):
    """Refuse a production SECRET_KEY that is missing, a placeholder, or too weak to sign sessions."""
    normalized = value.strip().lower()
    if not normalized:
        problem = "is not set"
    elif (
        normalized in PLACEHOLDER_SECRET_KEYS
        or normalized.startswith("django-insecure")
        or any(fragment in normalized for fragment in PLACEHOLDER_FRAGMENTS)
    ):
        problem = "is a known placeholder"
    elif len(value) < SECRET_KEY_MIN_LENGTH:
        problem = f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    elif len(set(value)) < 5:
        problem = "has fewer than 5 distinct characters"
    else:
        return
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
