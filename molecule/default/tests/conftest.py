"""Fixtures of the default scenario: names and ports of the stack, read from the sandbox inventory."""

from __future__ import annotations

import json

import pytest
from helpers import sandbox_vars

# molecule.yml publishes these on 127.0.0.1.
HTTP_PORT = 18080
HTTPS_PORT = 18443


@pytest.fixture(scope="session")
def inventory_vars() -> dict:
    return sandbox_vars()


@pytest.fixture(scope="session")
def project(inventory_vars) -> str:
    return inventory_vars["project_name"]


@pytest.fixture(scope="session")
def domain(inventory_vars) -> str:
    return inventory_vars["project_domain"]


@pytest.fixture(scope="session")
def stack_root(project) -> str:
    return f"/srv/{project}"


@pytest.fixture(scope="module")
def compose_ps(host, project) -> list[dict]:
    """`docker compose ps --all --format json` on the Molecule host (one object per container)."""
    out = host.check_output(f"docker compose --project-name {project} ps --all --format json")
    text = out.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def service_container(host, project):
    """Container ID of a service of the stack."""

    def find(service: str) -> str:
        cid = host.check_output(
            "docker ps --quiet --filter label=com.docker.compose.project=%s"
            " --filter label=com.docker.compose.service=%s",
            project,
            service,
        ).strip()
        assert cid, f"no running container for service {service}"
        return cid.splitlines()[0]

    return find
