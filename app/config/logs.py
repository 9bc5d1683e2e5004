"""Logging for Django and gunicorn alike: one stdout handler, plain or JSON, that redacts secrets and
names the request each record belongs to.

gunicorn.conf.py builds its logging from the same function, so the access log, the gunicorn error log
and the application log share one format and one redaction filter. This module must stay importable
without Django being set up (the gunicorn master imports it before loading the application).
"""

import logging
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar

# Imported here, not when a record is filtered: a pool thread logging during interpreter shutdown cannot
# import anything any more. django.conf is importable before settings exist.
from django.conf import settings

REDACTED = "***"

# The id of the request the current thread is serving (core.middleware.RequestIdMiddleware sets it from
# nginx's X-Request-ID); NO_REQUEST outside a request.
NO_REQUEST = "-"
current_request_id = ContextVar("current_request_id", default=NO_REQUEST)

# Keys whose values are secrets wherever they appear: in dict arguments, extras, key=value pairs.
SENSITIVE_KEY = re.compile(
    r"passw(or)?d|secret|token|api[_-]?key|authorization|cookie|sessionid|signature", re.I
)

PATTERNS = (
    # key=value, key: value, 'key': 'value' (query strings, dict reprs, form dumps)
    (
        re.compile(
            r"""(?ix)
            (\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|sessionid|signature)[\w-]*["']?\s*[=:]\s*["']?)
            [^\s&"',;}]+
            """
        ),
        rf"\1{REDACTED}",
    ),
    # Authorization headers: the whole credential, whatever its scheme
    (re.compile(r"""(?i)(\bauthorization["']?\s*[=:]\s*["']?)[^"'\r\n]+"""), rf"\1{REDACTED}"),
    # Credentials embedded in URLs: postgres://user:password@host
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # Password-reset links (/accounts/reset/<uidb64>/<token>/): the token grants the account
    (re.compile(r"(/reset/[\w-]+/)[0-9a-z]+-[0-9a-f]{20,}"), rf"\1{REDACTED}"),
)

# Attributes every LogRecord has; anything else was passed as `extra=` and is redacted too. The request
# id is set by RequestIdFilter from a parsed UUID, so it cannot carry a secret.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "request_id"}


def secret_values():
    """The configured secret values, once Django's settings are loaded (empty in the gunicorn master)."""
    if not settings.configured:
        return ()
    values = [
        settings.SECRET_KEY,
        *getattr(settings, "SECRET_KEY_FALLBACKS", ()),
        getattr(settings, "EMAIL_HOST_PASSWORD", ""),
        *(db.get("PASSWORD", "") for db in settings.DATABASES.values()),
    ]
    # Very short values would turn ordinary words into asterisks; they are weak secrets anyway.
    return tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= 6}, key=len, reverse=True))


def redact(text, secrets=None):
    """`text` with known secret values and secret-looking fragments replaced by ***."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, REDACTED)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _KeyRedactedArgs(Mapping):
    """Mapping arguments with sensitive keys masked. Wraps rather than copies: gunicorn's access-log
    atoms answer lookups of absent headers with "-", which a plain dict would not."""

    def __init__(self, args):
        self._args = args

    def __getitem__(self, key):
        return REDACTED if SENSITIVE_KEY.search(str(key)) else self._args[key]

    def __iter__(self):
        return iter(self._args)

    def __len__(self):
        return len(self._args)


class RedactingFilter(logging.Filter):
    """Rewrites each record in place so that no handler or formatter ever sees a secret.

    The message is rendered and redacted once (arguments included), the traceback is rendered into
    exc_text and redacted (exc_info is dropped so JSON formatters do not render it again), and extras
    are redacted by key and by content.
    """

    def filter(self, record):
        secrets = secret_values()
        if isinstance(record.args, Mapping):
            record.args = _KeyRedactedArgs(record.args)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call must still be logged, unformatted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message, secrets), None

        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)

        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            if SENSITIVE_KEY.search(key):
                setattr(record, key, REDACTED)
            elif not isinstance(value, int | float | bool | type(None)):
                setattr(record, key, redact(str(value), secrets))
        return True


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record: the id of the request being served, NO_REQUEST outside one."""

    def filter(self, record):
        record.request_id = current_request_id.get()
        return True


class UTCFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps: Django switches the process time zone to TIME_ZONE, gunicorn's master
    keeps the system one, and log lines of both must line up."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


def build_logging(fmt, level):
    """dictConfig for the root logger plus Django's and gunicorn's loggers, all through one handler."""
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,  # "timestamp": ISO 8601 in UTC
        }
    else:
        formatter = {
            "()": "config.logs.UTCFormatter",
            "fmt": "%(asctime)s %(levelname)s [%(name)s] %(process)d %(request_id)s %(message)s",
        }
    # Named loggers lose their own handlers (Django's mail_admins and DEBUG-only console, gunicorn's
    # stderr handler) and propagate to the single root handler instead.
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "config.logs.RequestIdFilter"},
            "redact": {"()": "config.logs.RedactingFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id", "redact"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django": {**propagate, "level": level},
            "django.server": {**propagate, "level": level},
            "gunicorn.error": {**propagate, "level": level},
            # The access log is the request record; it stays on whatever the level.
            "gunicorn.access": {**propagate, "level": "INFO"},
            # django-axes: failed logins and lockouts are warnings, kept whatever the level (a tool such as
            # fail2ban acts on them); its INFO lines are bookkeeping noise on every login.
            "axes": {**propagate, "level": "WARNING"},
        },
    }
