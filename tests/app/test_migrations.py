"""The project's own migrations: complete for its models, and backward compatible by the same check the
release step runs before a zero-downtime release (django-migration-linter,
ansible/roles/stack/tasks/migration_gate.yml)."""

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command

pytestmark = pytest.mark.django_db

# The apps whose code is this project's (under app/), not Django's or a dependency's.
PROJECT_APPS = sorted(
    config.label for config in apps.get_app_configs() if str(settings.BASE_DIR) in str(config.path)
)


def test_the_project_has_apps_of_its_own():
    assert "core" in PROJECT_APPS


def test_every_model_change_has_its_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_projects_migrations_keep_the_previous_release_working(capsys):
    try:
        call_command("lintmigrations", "--no-cache", "--include-apps", *PROJECT_APPS)
    except SystemExit as exit_:
        pytest.fail(
            f"lintmigrations refused the project's migrations ({exit_.code}):\n{capsys.readouterr().out}"
        )
    assert "*** Summary ***" in capsys.readouterr().out
