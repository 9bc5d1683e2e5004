"""Django settings. Every value comes from the environment (docs/config/environment.md lists them all):
the same image runs in development, staging and production and only its environment changes.

With DJANGO_DEBUG off (the default) the process refuses to start on a missing or weak secret key, an
empty host list or missing database settings, naming the variable to fix.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import Choices, config, csv_list, networks
from config.logs import build_logging
from config.validation import check_secret_key, database_from_parts, database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = config("DJANGO_DEBUG", default=False, cast=bool)

# The site's name in page titles, the header and the admin; empty: "Django application", translated.
SITE_NAME = config("DJANGO_SITE_NAME", default="")

# Version label of the running build: in /healthz and the X-App-Release header of every response.
APP_RELEASE = config("APP_RELEASE", default="dev")

# --- Secrets and hosts --------------------------------------------------------------------------------

SECRET_KEY = config("DJANGO_SECRET_KEY", default="")
if not DEBUG:
    check_secret_key(SECRET_KEY)
elif not SECRET_KEY:
    SECRET_KEY = "django-insecure-development-only-key-never-accepted-with-debug-off"  # noqa: S105

ALLOWED_HOSTS = config("DJANGO_ALLOWED_HOSTS", default="", cast=csv_list)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is empty (required when DJANGO_DEBUG is off): "
        "list the host names this site answers to, comma-separated."
    )

# Origins (scheme://host[:port]) allowed to POST forms, e.g. https://example.org when the proxy's
# public port differs from what Django sees.
CSRF_TRUSTED_ORIGINS = config("DJANGO_CSRF_TRUSTED_ORIGINS", default="", cast=csv_list)

# --- Applications -------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "axes",
    # `lintmigrations`: the release step refuses migrations that would break the serving release.
    "django_migration_linter",
    "core",
]

# With DJANGO_METRICS on, the metrics middleware wraps this list (below); the order within it stays.
MIDDLEWARE = [
    # First: the request id (nginx's X-Request-ID), so every log line of the request carries it, whichever
    # middleware or view writes it.
    "core.middleware.RequestIdMiddleware",
    # Next: answers /healthz and /readyz for any Host and over plain HTTP, and stamps every response
    # (including the ones produced further down) with X-App-Release.
    "core.middleware.HealthAndReleaseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "core.middleware.CrossOriginHeadersMiddleware",
    # Last of this list, as django-axes requires: turns a locked-out login into core.lockout's 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
            ],
        },
    },
]

# --- Database: PostgreSQL only ------------------------------------------------------------------------

DATABASE_URL = config("DATABASE_URL", default="")
if DATABASE_URL:
    database = database_from_url(DATABASE_URL)
else:
    database = database_from_parts(
        name=config("POSTGRES_DB", default=""),
        user=config("POSTGRES_USER", default=""),
        password=config("POSTGRES_PASSWORD", default=""),
        host=config("POSTGRES_HOST", default=""),
        port=config("POSTGRES_PORT", default=5432, cast=int),
    )
# DATABASE_URL embeds the password and its name escapes the settings cleansing of debug pages.
del DATABASE_URL

# Fail fast when the server is unreachable instead of hanging a worker (and /readyz) for minutes.
database.setdefault("OPTIONS", {})["connect_timeout"] = config(
    "DJANGO_DB_CONNECT_TIMEOUT", default=5, cast=int
)
# Validate a connection before a request reuses it, so a database restart costs no failed request.
database["CONN_HEALTH_CHECKS"] = config("DJANGO_DB_CONN_HEALTH_CHECKS", default=True, cast=bool)
# Connection handling: Django's psycopg pool per process (default) or one persistent connection per
# thread. The choice and the measurements behind it are in docs/runtime/lifecycle.md.
if config("DJANGO_DB_POOL", default=True, cast=bool):
    database["CONN_MAX_AGE"] = 0  # the pool owns connection lifetime; Django refuses both at once
    database["OPTIONS"]["pool"] = {
        "min_size": config("DJANGO_DB_POOL_MIN_SIZE", default=1, cast=int),
        # One connection per gunicorn thread: a request never waits for another one's connection.
        "max_size": config(
            "DJANGO_DB_POOL_MAX_SIZE", default=config("GUNICORN_THREADS", default=4, cast=int), cast=int
        ),
        # Longest a request waits for a free connection (or for an unreachable server) before failing.
        "timeout": config("DJANGO_DB_POOL_TIMEOUT", default=10, cast=float),
    }
else:
    database["CONN_MAX_AGE"] = config("DJANGO_DB_CONN_MAX_AGE", default=600, cast=int)
DATABASES = {"default": database}
del database

# --- Application metrics (Prometheus) -------------------------------------------------------------------

# Off: django_prometheus is never imported. On: requests, responses and queries are counted, and the
# gunicorn master serves the workers' sum on a port of its own (gunicorn.conf.py); there is no /metrics
# URL, since nginx proxies every path of the site. docs/runtime/observability.md lists the metrics.
if config("DJANGO_METRICS", default=False, cast=bool):
    INSTALLED_APPS.append("django_prometheus")
    # Before: the whole chain, timed from the first middleware; after: the resolved view, the status.
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "core.metrics.PrometheusViewMiddleware",
    ]
    # Django's PostgreSQL backend with counted connections, queries and errors; pool options unchanged.
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    # The gunicorn master loads the app before forking and must not query the database to do so.
    PROMETHEUS_EXPORT_MIGRATIONS = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "landing"

# Failed logins (public and admin login forms alike) are counted by django-axes per username *and* client
# address: a guesser is locked out, while the real user logging in from elsewhere is not. The lock lifts
# after the cool-off (each further failure during it starts it again); `manage.py axes_reset_username NAME`
# or `axes_reset_ip ADDRESS` lifts it at once. Axes logs "AXES: Locking out ..." as a warning.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = config("DJANGO_AXES_FAILURE_LIMIT", default=5, cast=int)
axes_cooloff_minutes = config("DJANGO_AXES_COOLOFF_MINUTES", default=15, cast=int)
for name, value in (
    ("DJANGO_AXES_FAILURE_LIMIT", AXES_FAILURE_LIMIT),
    ("DJANGO_AXES_COOLOFF_MINUTES", axes_cooloff_minutes),
):
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer.")
AXES_COOLOFF_TIME = timedelta(minutes=axes_cooloff_minutes)
del axes_cooloff_minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
# Log lines name only what the lock is keyed on, with the address in clear (for fail2ban or the operator)
# and the username masked: people type their password into it by mistake.
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["username", "password"]
# The peers whose X-Real-IP names the client (nginx on the frontend network); anyone else's is ignored.
TRUSTED_PROXIES = config("DJANGO_TRUSTED_PROXIES", default="", cast=networks)

# --- Internationalisation -----------------------------------------------------------------------------

LANGUAGE_CODE = config("DJANGO_LANGUAGE_CODE", default="ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = config("DJANGO_TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

# --- Static and media files ---------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = config("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = config("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cacheable forever) plus precompressed .gz files, served by WhiteNoise when the app
    # runs alone and by nginx from the same collected tree in the stack.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Email --------------------------------------------------------------------------------------------

EMAIL_BACKEND = {
    # Writes mail to stdout; outside DEBUG it masks password-reset links (see core.mail).
    "console": "core.mail.ConsoleEmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}[config("DJANGO_EMAIL_BACKEND", default="console", cast=Choices(["console", "smtp"]))]
EMAIL_HOST = config("EMAIL_HOST", default="localhost")
EMAIL_PORT = config("EMAIL_PORT", default=587, cast=int)
EMAIL_HOST_USER = config("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = config("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = config("EMAIL_USE_TLS", default=True, cast=bool)
EMAIL_USE_SSL = config("EMAIL_USE_SSL", default=False, cast=bool)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are both on; enable at most one.")
# A stalled SMTP server must not hold a gunicorn thread until the worker timeout kills it.
EMAIL_TIMEOUT = config("EMAIL_TIMEOUT", default=10, cast=int)
DEFAULT_FROM_EMAIL = config("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security -----------------------------------------------------------------------------------------

# nginx is the only client of gunicorn and sets X-Forwarded-Proto itself (overwriting any sent by the
# browser); the Host header is validated against ALLOWED_HOSTS, X-Forwarded-Host is never trusted.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
# HTTPS-only defaults, relaxed when DEBUG is on: plain-HTTP runserver must stay usable, and a browser
# must not remember HSTS for localhost.
SECURE_SSL_REDIRECT = config("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG, cast=bool)
SECURE_HSTS_SECONDS = config("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 63072000, cast=int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = config("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True, cast=bool)
SECURE_HSTS_PRELOAD = config("DJANGO_SECURE_HSTS_PRELOAD", default=False, cast=bool)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Secure cookies are only sent over HTTPS.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config("DJANGO_SECURE_COOKIES", default=not DEBUG, cast=bool)
SESSION_COOKIE_HTTPONLY = True
# The language choice: kept a year, over HTTPS only, out of scripts' reach, never sent cross-site.
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
# CSRF_COOKIE_HTTPONLY stays off: the token is also in every form, so hiding the cookie adds nothing.

# Where browsers send the CSP violations they block (core.views.csp_report logs them): `report-uri` for
# the browsers that only know it, `report-to` naming the Reporting-Endpoints entry for the others.
CSP_REPORT_PATH = "/csp-report/"
CSP_REPORT_ENDPOINT = "csp"
# Nothing loads unless a directive below allows it: every fetch directive the site (admin included) needs
# is explicit, and needs nothing but the site itself. No inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [CSP_REPORT_PATH],
        "report-to": CSP_REPORT_ENDPOINT,
    },
}
# No other site may embed the site's responses (scripts, images, JSON) in its own pages.
SECURE_CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
# Powerful browser features the site does not use, denied to it and to anything it would embed.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# Preloading HSTS is a one-way commitment for the whole domain, so it stays an explicit opt-in and the
# deploy check's reminder about it is silenced until then.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# --- Logging: stdout only, plain or JSON, secrets redacted ----------------------------------------------

LOGGING = build_logging(
    fmt=config("DJANGO_LOG_FORMAT", default="plain", cast=Choices(["plain", "json"])),
    level=config(
        "DJANGO_LOG_LEVEL",
        default="INFO",
        cast=Choices(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], cast=str.upper),
    ),
)
