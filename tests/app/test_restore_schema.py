"""The restore decision on the real thing (ansible/plugins/filter/restore.py): the backup role's probe of the
code's migrations run against this app, and the django_migrations rows of a real pg_dump of the test database.
"""

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from restore import restore_schema

BACKUP_VARS = Path(__file__).parents[2] / "ansible" / "roles" / "backup" / "vars" / "main.yml"
FUTURE = ("core", "9999_from_a_newer_release")
REAPPLIABLE = ("auth", "0012_alter_user_first_name_max_length")


def code_migrations() -> str:
    """What the role's probe prints in the serving slot (`manage.py shell -c`), here with this checkout."""
    probe = yaml.safe_load(BACKUP_VARS.read_text(encoding="utf-8"))["_backup_code_migrations_probe"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call_command("shell", command=probe)
    return out.getvalue().strip().splitlines()[-1]


def dump_rows(tmp_path) -> str:
    """pg_dump of the test database, read back as the restore script's --migrations does."""
    settings = connection.settings_dict
    target = ["--host", settings["HOST"], "--port", str(settings["PORT"]), "--username", settings["USER"]]
    dump = tmp_path / "test.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", *target, "--file", str(dump), settings["NAME"]], check=True, timeout=60
    )
    return subprocess.run(
        ["pg_restore", "--data-only", "--table=django_migrations", "--file=-", str(dump)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_the_probe_lists_the_apps_migrations_without_a_database():
    names = json.loads(code_migrations())
    assert ".".join(REAPPLIABLE) in names
    assert "sessions.0001_initial" in names
    assert names == sorted(set(names))


@pytest.mark.django_db(transaction=True)
def test_a_dump_of_the_migrated_database_matches_the_code(tmp_path):
    schema = restore_schema(dump_rows(tmp_path), code_migrations())
    assert schema["newer"] == []
    assert schema["older"] == []
    assert schema["dump_count"] == len(json.loads(code_migrations()))


@pytest.mark.django_db(transaction=True)
def test_newer_and_older_dumps_are_told_apart(tmp_path):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", FUTURE)
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", REAPPLIABLE)
    try:
        schema = restore_schema(dump_rows(tmp_path), code_migrations())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", FUTURE)
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", REAPPLIABLE
            )
    assert schema["newer"] == [".".join(FUTURE)]
    assert schema["older"] == [".".join(REAPPLIABLE)]
