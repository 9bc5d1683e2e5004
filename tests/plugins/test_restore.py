"""The restore decision's parsing and refusals (ansible/plugins/filter/restore.py); the real dump and app:
tests/app/test_restore_schema.py."""

import pytest
from restore import FilterModule, dump_migrations, restore_schema

COPY = (
    "--\n-- PostgreSQL database dump\n--\n\n"
    "COPY public.django_migrations (id, app, name, applied) FROM stdin;\n"
    "1\tcontenttypes\t0001_initial\t2026-11-28 03:15:00.1+00\n"
    "2\tauth\t0001_initial\t2026-11-28 03:15:00.2+00\n"
    "\\.\n\n"
    "SELECT pg_catalog.setval('public.django_migrations_id_seq', 2, true);\n"
)


def test_rows_of_the_copy_block():
    assert dump_migrations(COPY) == ["auth.0001_initial", "contenttypes.0001_initial"]


def test_a_dump_without_the_table_has_no_migrations():
    assert dump_migrations("") == []
    assert dump_migrations("--\n-- PostgreSQL database dump complete\n--\n") == []


def test_columns_are_read_by_name():
    copy = (
        "COPY public.django_migrations (app, applied, name, id) FROM stdin;\nauth\tx\t0001_initial\t1\n\\.\n"
    )
    assert dump_migrations(copy) == ["auth.0001_initial"]


def test_newer_and_older():
    schema = restore_schema(COPY, '["auth.0001_initial", "auth.0002_more", "sessions.0001_initial"]')
    assert schema == {
        "newer": ["contenttypes.0001_initial"],
        "older": ["auth.0002_more", "sessions.0001_initial"],
        "dump_count": 2,
    }


def test_a_release_without_migrations_is_an_error():
    with pytest.raises(ValueError, match="no migrations"):
        restore_schema(COPY, "[]")


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"restore_schema": restore_schema}
