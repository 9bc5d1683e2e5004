"""pytest plugin (`-p app_env`, see pyproject.toml): the test environment of the Django settings.

It must run before pytest-django imports the settings, which happens before any conftest.py is loaded,
and the settings refuse to load without a secret key, allowed hosts and a database. Values already in
the environment win (CI may point DATABASE_URL elsewhere).
"""

import atexit
import os
import shutil
import tempfile

# The CI machines run PostgreSQL on 127.0.0.1:5432 with trust auth; pytest-django creates and drops
# test_<name> next to it.
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"

_scratch = tempfile.mkdtemp(prefix="djangoapp-tests-")
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)

for name, value in {
    "DATABASE_URL": DEFAULT_DATABASE_URL,
    # Fixed and clearly fake, but strong enough for the production checks (>= 50 chars, no placeholder).
    "DJANGO_SECRET_KEY": "tests-only-9f2c1a7e4b8d3f6a0c5e9b2d7a4f1c8e3b6d9a2f5c8e1b4d7a0",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "DJANGO_STATIC_ROOT": os.path.join(_scratch, "static"),
    "DJANGO_MEDIA_ROOT": os.path.join(_scratch, "media"),
    "APP_RELEASE": "test-release",
}.items():
    os.environ.setdefault(name, value)
