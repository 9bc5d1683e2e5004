"""Logs go to stdout, plain or JSON, and never contain a secret."""

import io
import json
import logging
import re

import pytest
from app_support import PRODUCTION_ENV, run_python
from django.conf import settings
from django.core.mail import EmailMessage
from django.test import override_settings

from config.logs import REDACTED, RedactingFilter, UTCFormatter, redact
from core.mail import ConsoleEmailBackend

DB_PASSWORD = "db-pass-Value-7319"
SMTP_PASSWORD = "smtp-pass-Value-4482"
RESET_PATH = "/accounts/reset/MQ/cl9x2a-0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b/"

EMIT_LOGS = f"""
import logging, django
django.setup()
from django.conf import settings
log = logging.getLogger("app.probe")
log.warning("key=%s in a message", settings.SECRET_KEY)
log.warning("connecting with %s", settings.DATABASES["default"]["PASSWORD"])
log.info("login attempt", extra={{"password": "extra-pass-Value-1", "user": "ivan"}})
log.info("form %(username)s %(password)s", {{"username": "ivan", "password": "dict-pass-Value-2"}})
try:
    raise RuntimeError("smtp rejected " + settings.EMAIL_HOST_PASSWORD)
except RuntimeError:
    log.exception("mail failed for postgres://app:{DB_PASSWORD}@db/app")
logging.getLogger("gunicorn.access").info('127.0.0.1 "GET {RESET_PATH}?token=tok-Value-3 HTTP/1.1" 200')
"""

SECRET_VALUES = [
    DB_PASSWORD,
    SMTP_PASSWORD,
    "extra-pass-Value-1",
    "dict-pass-Value-2",
    "tok-Value-3",
    "0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b",
]


def emit(log_format):
    result = run_python(
        EMIT_LOGS,
        DJANGO_LOG_FORMAT=log_format,
        DATABASE_URL=f"postgres://app:{DB_PASSWORD}@127.0.0.1:5432/app",
        EMAIL_HOST_PASSWORD=SMTP_PASSWORD,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # everything on stdout
    return result.stdout


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_no_secret_reaches_stdout(log_format):
    output = emit(log_format)
    for secret in [*SECRET_VALUES, PRODUCTION_ENV["DJANGO_SECRET_KEY"]]:
        assert secret not in output, f"{secret} leaked:\n{output}"
    assert output.count(REDACTED) >= 7
    assert "RuntimeError: smtp rejected ***" in output  # the traceback is kept, only redacted
    assert "ivan" in output


def test_json_format_is_one_object_per_line():
    lines = emit("json").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 6
    for record in records:
        assert {"timestamp", "level", "logger", "message", "process", "request_id"} <= set(record)
        assert record["timestamp"].endswith("+00:00")  # UTC
        assert record["request_id"] == "-"  # outside a request
    first = records[0]
    assert (first["level"], first["logger"], first["message"]) == (
        "WARNING",
        "app.probe",
        "key=*** in a message",
    )
    assert records[2]["password"] == REDACTED
    assert records[2]["user"] == "ivan"
    assert "RuntimeError: smtp rejected ***" in records[4]["exc_info"]
    assert records[5]["logger"] == "gunicorn.access"


def test_plain_format():
    first = emit("plain").splitlines()[0]
    # UTC timestamp with milliseconds, level, logger, pid, request id ("-": outside a request), message
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING \[app\.probe\] \d+ - key=\*\*\* in a message", first
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2&user=ivan", "password=***&user=ivan"),
        ("{'password': 'hunter2', 'user': 'ivan'}", "{'password': '***', 'user': 'ivan'}"),
        ('{"api_key": "abc123"}', '{"api_key": "***"}'),
        ("csrfmiddlewaretoken=abcdef", "csrfmiddlewaretoken=***"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: ***"),
        ("postgres://app:hunter2@db:5432/app", "postgres://app:***@db:5432/app"),
        (
            "GET /accounts/reset/MQ/cl9x2a-0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b/ 200",
            "GET /accounts/reset/MQ/***/ 200",
        ),
        ("GET /accounts/reset/MQ/set-password/ 200", "GET /accounts/reset/MQ/set-password/ 200"),
        ("GET /accounts/password_reset/ 200", "GET /accounts/password_reset/ 200"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_redaction_patterns(text, expected):
    assert redact(text, secrets=()) == expected


def test_known_secret_values_are_redacted_anywhere():
    assert redact(f"value:{settings.SECRET_KEY}!") == "value:***!"


@pytest.fixture
def captured_logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(UTCFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_filter_covers_arguments_extras_and_tracebacks(captured_logger):
    logger, stream = captured_logger
    key = settings.SECRET_KEY
    logger.warning("signed with %s", key)
    logger.warning("%(who)s used %(password)s", {"who": "ivan", "password": "pw-in-args"})
    logger.warning("ctx", extra={"session_cookie": "abc", "detail": f"key {key}"})
    try:
        raise ValueError(key)
    except ValueError:
        logger.exception("boom")
    output = stream.getvalue()
    assert key not in output
    assert "pw-in-args" not in output
    assert "ivan used ***" in output
    assert "ValueError: ***" in output


def test_filter_keeps_malformed_calls():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", ("only one",), None)
    assert RedactingFilter().filter(record)
    assert "only one" in record.msg


def mail_with_reset_link():
    return EmailMessage(
        "Восстановление пароля",
        f"Перейдите по ссылке: https://example.org{RESET_PATH}",
        to=["ivan@example.org"],
    )


def test_console_mail_masks_reset_links_in_production():
    stream = io.StringIO()
    ConsoleEmailBackend(stream=stream).send_messages([mail_with_reset_link()])
    output = stream.getvalue()
    assert "https://example.org/accounts/reset/MQ/***/" in output
    assert "0f3e1c2b7a9d8e6f5a4b3c2d1e0f9a8b" not in output


@override_settings(DEBUG=True)
def test_console_mail_shows_reset_links_in_development():
    stream = io.StringIO()
    ConsoleEmailBackend(stream=stream).send_messages([mail_with_reset_link()])
    assert RESET_PATH in stream.getvalue()
