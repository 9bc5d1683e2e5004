"""Fixtures of the tls scenario: the two hosts' names, ports and domains, the test PKI, TLS clients."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import pytest
import yaml
from helpers import REPO

HOST_VARS = REPO / "molecule" / "shared" / "host_vars"

# molecule.yml publishes these on 127.0.0.1.
ACME = {"name": "molecule-tls-acme", "http": 28080, "https": 28443}
CF = {"name": "molecule-tls-cf", "http": 28081, "https": 28444}


def host_vars(name: str) -> dict:
    return yaml.safe_load((HOST_VARS / f"{name}.yml").read_text(encoding="utf-8"))


ACME_DOMAIN = host_vars(ACME["name"])["project_domain"]
CF_DOMAIN = host_vars(CF["name"])["project_domain"]
PROJECT = "djangoapp"


@pytest.fixture(scope="session")
def pki() -> Path:
    """The scenario's test PKI on the control node (molecule/tls/make-test-pki.sh, run by prepare.yml)."""
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "pki"
    assert (path / "origin-ca.pem").is_file(), f"no test PKI in {path}: prepare.yml makes it"
    return path


def peer_certificate(port: int, server_name: str, cadata: str | None = None) -> bytes:
    """DER of the certificate served on 127.0.0.1:port for server_name; verified against cadata when given."""
    context = ssl.create_default_context(cadata=cadata) if cadata else ssl._create_unverified_context()  # noqa: S323
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def pebble_roots(host) -> str:
    """Pebble's issuing root (made at Pebble's start), from its management interface on the host."""
    return host.check_output(
        "curl --silent --show-error --fail --cacert /etc/pebble/acme-ca.pem https://127.0.0.1:15000/roots/0"
    )


def nginx_container(host) -> str:
    cid = host.check_output(
        "docker ps --quiet --filter label=com.docker.compose.project=%s"
        " --filter label=com.docker.compose.service=nginx --filter status=running",
        PROJECT,
    ).strip()
    assert cid, "nginx is not running"
    return cid.splitlines()[0]
