"""Free local resources for a throwaway Compose stack: TCP ports on 127.0.0.1 and a private /24 subnet.

Shared by the benchmark (`python3 -m bench free-resources`) and the stack tests (tests/stack), which both
start a stack next to whatever already runs on the machine. Standard library only.
"""

# ruff: noqa: S603, S607
# (it runs `docker network ls/inspect` with fixed arguments)
from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import subprocess
from pathlib import Path

# Where docker/compose.yml's own default frontend subnet lives; overlaps are checked, not assumed away.
SUBNET_POOL = "172.30"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def used_networks() -> list[ipaddress.IPv4Network]:
    """Subnets of the Docker networks and of the host's IPv4 routes: a new network must not overlap them."""
    nets = []
    ids = _docker("network", "ls", "-q").split()
    if ids:
        for net in json.loads(_docker("network", "inspect", *ids)):
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if ":" not in cfg.get("Subnet", ":"):
                    nets.append(ipaddress.ip_network(cfg["Subnet"]))
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        dest, mask = (ipaddress.IPv4Address(bytes.fromhex(f)[::-1]) for f in (fields[1], fields[7]))
        if int(mask):
            nets.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return nets


def free_subnet(avoid: tuple[str, ...] = ()) -> str:
    """A random 172.30.x.0/24 that overlaps no Docker network, no route of this host and none of `avoid`."""
    used = used_networks() + [ipaddress.ip_network(net) for net in avoid]
    for _ in range(200):
        candidate = ipaddress.ip_network(f"{SUBNET_POOL}.{secrets.randbelow(250) + 1}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return str(candidate)
    raise RuntimeError(f"no free {SUBNET_POOL}.x.0/24 subnet for a Docker network")
