"""The PostgreSQL major-version decisions of the stack role (ansible/plugins/filter/postgres.py); the real
upgrade on a host: molecule/release/tests/test_upgrade_postgres.py."""

import pytest
from postgres import (
    FilterModule,
    postgres_fingerprint_diff,
    postgres_guard,
    postgres_image_for,
    postgres_image_major,
    postgres_target_error,
    postgres_upgrade_plan,
)


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        "postgres_fingerprint_diff",
        "postgres_guard",
        "postgres_image_for",
        "postgres_image_major",
        "postgres_target_error",
        "postgres_upgrade_plan",
    }


@pytest.mark.parametrize(
    ("env", "major"),
    [
        (["PATH=/usr/bin", "PG_MAJOR=17", "LANG=C.UTF-8"], 17),
        (["PG_MAJOR=18"], 18),
        (["PG_MAJOR=9.6"], 9),
        (["PG_MAJOR=x"], 0),
        (["PATH=/usr/bin"], 0),
        (None, 0),
    ],
)
def test_image_major_from_its_environment(env, major):
    assert postgres_image_major(env) == major


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("mirror/postgres:17", "mirror/postgres:18"),
        ("local/postgres:17", "local/postgres:18"),
        ("postgres:17-alpine", "postgres:18-alpine"),
        ("postgres:17.6-bookworm", "postgres:18-bookworm"),
        ("registry.example.com:5000/db/postgres:17", "registry.example.com:5000/db/postgres:18"),
        ("postgres:latest", ""),
        ("postgres", ""),
        ("registry.example.com:5000/postgres", ""),
        ("postgres@sha256:" + "a" * 64, ""),
    ],
)
def test_image_for_the_target_major(image, expected):
    assert postgres_image_for(image, 18) == expected


@pytest.mark.parametrize("value", ["", None, "18", 18, " 19 ", "10"])
def test_target_accepted(value):
    assert postgres_target_error(value) == ""


@pytest.mark.parametrize("value", ["eighteen", "18.1", "9", "-18", "0", "true"])
def test_target_refused_naming_the_variable(value):
    assert "postgres_target" in postgres_target_error(value)


def test_guard_passes_same_major_and_fresh_volume():
    assert postgres_guard(17, 17, "mirror/postgres:17", "app_pgdata") == ""
    assert postgres_guard(0, 18, "postgres:18", "app_pgdata") == ""
    assert postgres_guard("", 0, "postgres:18", "app_pgdata") == ""


def test_guard_refuses_an_implicit_major_bump():
    message = postgres_guard(17, 18, "postgres:18", "app_pgdata")
    assert "upgrade-postgres.yml" in message and "postgres_target=18" in message
    assert "app_pgdata" in message and "Nothing was changed" in message


def test_guard_refuses_an_older_image_on_upgraded_data():
    message = postgres_guard("18", "17", "mirror/postgres:17", "app_pgdata-18")
    assert "stack_postgres_image" in message and "PostgreSQL 18 image" in message


def test_guard_refuses_an_image_it_cannot_check():
    assert "PG_MAJOR" in postgres_guard(17, 0, "custom/db:1", "app_pgdata")


def plan(target, data_major=17, image="mirror/postgres:17", override=""):
    return postgres_upgrade_plan(target, data_major, image, "app_pgdata", "app", override)


def test_plan_for_the_next_major():
    assert plan("18") == {
        "problem": "",
        "noop": False,
        "image": "mirror/postgres:18",
        "volume": "app_pgdata-18",
    }


def test_plan_takes_the_given_image():
    assert plan(18, override="mirror/pg:18.1")["image"] == "mirror/pg:18.1"


def test_plan_is_a_noop_at_the_target():
    result = plan(17)
    assert result["noop"] and result["problem"] == ""


@pytest.mark.parametrize(
    ("target", "data_major", "image", "words"),
    [
        ("", 17, "mirror/postgres:17", "(-e postgres_target=18)"),
        ("x", 17, "mirror/postgres:17", "postgres_target must be"),
        ("16", 17, "mirror/postgres:17", "cannot be downgraded"),
        ("18", 0, "mirror/postgres:17", "holds no data"),
        ("18", 17, "postgres:latest", "stack_postgres_upgrade_image"),
    ],
)
def test_plan_refusals(target, data_major, image, words):
    result = plan(target, data_major, image)
    assert words in result["problem"] and "nothing" in result["problem"] and "changed" in result["problem"]
    assert not result["noop"]


def test_plan_never_targets_the_volume_that_holds_the_data():
    result = postgres_upgrade_plan(18, 17, "local/postgres:17", "app_pgdata-18", "app")
    assert "app_pgdata-18 holds PostgreSQL 17 data" in result["problem"]


def test_fingerprint_diff():
    before = '{"public.t": "3 abc", "public.t_id_seq": "3 true"}'
    assert postgres_fingerprint_diff(before, before) == []
    assert postgres_fingerprint_diff(before, {"public.t": "2 abd", "public.t_id_seq": "3 true"}) == [
        "public.t: 3 abc -> 2 abd"
    ]
    assert postgres_fingerprint_diff(before, "{}") == [
        "public.t: 3 abc -> missing",
        "public.t_id_seq: 3 true -> missing",
    ]
