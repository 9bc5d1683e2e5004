"""One request id from nginx to the logs: X-Request-ID kept when it is a UUID, replaced otherwise, echoed in
the response and carried by every log record written while the request is served."""

import json
import re

import pytest
from app_support import run_python

from core.middleware import parse_request_id

# What nginx's $request_id looks like: 32 hex digits.
NGINX_ID = "3f8a1c0e9b7d4e2fa6c5b0d1e8f79a24"
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NGINX_ID, NGINX_ID),
        (NGINX_ID.upper(), NGINX_ID),
        ("3f8a1c0e-9b7d-4e2f-a6c5-b0d1e8f79a24", NGINX_ID),  # the hyphenated spelling, same id
    ],
)
def test_a_uuid_is_kept_as_32_hex_digits(value, expected):
    assert parse_request_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-an-id",
        NGINX_ID[:-1],
        NGINX_ID + "0",
        # uuid.UUID() accepts these (int() skips whitespace, a sign and underscores): none may pass through.
        NGINX_ID[:-1] + "\n",
        " " + NGINX_ID[1:],
        "+" + NGINX_ID[1:],
        NGINX_ID[:4] + "_" + NGINX_ID[5:],
        "{" + NGINX_ID + "}",
        "urn:uuid:" + NGINX_ID,
    ],
)
def test_anything_else_is_refused(value):
    assert parse_request_id(value) is None


def test_a_valid_id_is_echoed(https_client):
    response = https_client.get("/healthz", headers={"X-Request-ID": NGINX_ID})
    assert response["X-Request-ID"] == NGINX_ID


@pytest.mark.parametrize("sent", ["not-an-id", NGINX_ID[:-1] + "\n", f"{NGINX_ID}\r\nX-Injected: 1", None])
def test_an_invalid_or_missing_id_is_replaced_by_a_new_one(https_client, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = https_client.get("/healthz", headers=headers)["X-Request-ID"]
    second = https_client.get("/healthz", headers=headers)["X-Request-ID"]
    assert HEX32.fullmatch(first)
    assert HEX32.fullmatch(second)
    assert first != second
    assert NGINX_ID not in (first, second)


# Three records inside requests (a view's own warning; Django's "Bad Request", which it logs after the
# middleware chain has returned; a warning of a request without a valid id) and one outside any request.
REQUESTS = f"""
import json, logging, django
django.setup()
from django.test import Client
client = Client(headers={{"Host": "localhost", "X-Forwarded-Proto": "https"}})
report = json.dumps({{"csp-report": {{"violated-directive": "img-src", "blocked-uri": "https://x.example/"}}}})
answers = []
for sent, body in (("{NGINX_ID}", report), ("{NGINX_ID}", "{{not json"), ("not-an-id", report)):
    response = client.post(
        "/csp-report/", body, content_type="application/csp-report", headers={{"X-Request-ID": sent}}
    )
    answers.append(response["X-Request-ID"])
logging.getLogger("app.probe").warning("outside any request")
print("ANSWERS " + json.dumps(answers))
"""


def run_requests(log_format):
    result = run_python(REQUESTS, DJANGO_LOG_FORMAT=log_format)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    answers = json.loads(lines[-1].removeprefix("ANSWERS "))
    assert answers[:2] == [NGINX_ID, NGINX_ID]
    assert HEX32.fullmatch(answers[2])
    assert answers[2] != NGINX_ID
    return lines[:-1], answers[2]


def test_plain_log_lines_name_their_request():
    lines, fresh = run_requests("plain")
    pattern = r"\S+ (?P<level>\w+) \[(?P<logger>[\w.]+)\] \d+ (?P<id>\S+) (?P<message>.*)"
    records = [re.fullmatch(pattern, line).groupdict() for line in lines]
    assert [(r["logger"], r["id"], r["message"].split(":")[0]) for r in records] == [
        ("core.views", NGINX_ID, "CSP violation"),
        ("django.request", NGINX_ID, "Bad Request"),
        ("core.views", fresh, "CSP violation"),
        ("app.probe", "-", "outside any request"),
    ]


def test_json_log_records_name_their_request():
    lines, fresh = run_requests("json")
    records = [json.loads(line) for line in lines]
    assert [(r["logger"], r["request_id"], r["message"].split(":")[0]) for r in records] == [
        ("core.views", NGINX_ID, "CSP violation"),
        ("django.request", NGINX_ID, "Bad Request"),
        ("core.views", fresh, "CSP violation"),
        ("app.probe", "-", "outside any request"),
    ]
