import pytest
from django.core.management import call_command
from django.test import Client

# What nginx adds in front of every request it forwards (besides X-Forwarded-For).
PROXIED_HTTPS = {"Host": "testserver", "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """The manifest storage needs collected files (hashed names) before any page can be rendered,
    exactly as in the image, where collectstatic runs at build time."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture
def https_client():
    """A client whose requests arrive as nginx forwards them: Host kept, HTTPS per X-Forwarded-Proto."""
    return Client(headers=PROXIED_HTTPS)
