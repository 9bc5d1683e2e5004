"""Docker and cgroup access: commands, container addresses and environments, CPU and memory counters."""

# ruff: noqa: S603
# (it runs docker with arguments it builds itself)
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

MIB = 1024 * 1024


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float = 120, check: bool = True, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
    return result


def inspect(container: str) -> dict:
    return json.loads(run(["docker", "inspect", container]).stdout)[0]


_IDS: dict[str, str] = {}


def container_id(container: str) -> str:
    """The full ID of a container (by name or ID), looked up once: the counters are read by ID."""
    if container not in _IDS:
        _IDS[container] = run(["docker", "inspect", "-f", "{{.Id}}", container]).stdout.strip()
    return _IDS[container]


def ip(container: str, network: str) -> str:
    fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
    return run(["docker", "inspect", "-f", fmt, container]).stdout.strip()


def env_of(container: str) -> dict[str, str]:
    env = json.loads(run(["docker", "inspect", "-f", "{{json .Config.Env}}", container]).stdout)
    return dict(item.split("=", 1) for item in env)


def compose_services(project: str) -> dict[str, str]:
    """Container name per Compose service of a running project."""
    out = run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]).stdout
    found = json.loads(run(["docker", "inspect", *out.split()]).stdout)
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c["Name"].lstrip("/") for c in found}


def image_mb(image: str) -> float:
    return int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout) / 1e6


def _cgroup_dirs(cid: str) -> list[Path]:
    return [Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"), Path(f"/sys/fs/cgroup/docker/{cid}")]


def _stat(path: Path) -> dict[str, str]:
    return dict(line.split() for line in path.read_text().splitlines())


def cpu_ns(container: str) -> int:
    """CPU time a container has used so far (cgroup v2 cpu.stat, or v1 cpuacct)."""
    cid = container_id(container)
    for base in _cgroup_dirs(cid):
        if (base / "cpu.stat").exists():
            return int(_stat(base / "cpu.stat")["usage_usec"]) * 1000
    return int(Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage").read_text())


def cgroup_memory(container: str) -> float:
    """MiB used by a container as `docker stats` computes it (usage minus inactive page cache), read from its
    cgroup: on some machines (nested cgroup v1) `docker stats` itself reports 0 B."""
    cid = container_id(container)
    for base in _cgroup_dirs(cid):
        if (base / "memory.current").exists():
            inactive = int(_stat(base / "memory.stat").get("inactive_file", 0))
            return (int((base / "memory.current").read_text()) - inactive) / MIB
    base = Path(f"/sys/fs/cgroup/memory/docker/{cid}")
    inactive = int(_stat(base / "memory.stat").get("total_inactive_file", 0))
    return (int((base / "memory.usage_in_bytes").read_text()) - inactive) / MIB


_UNITS = {"B": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def memory(containers: dict[str, str]) -> tuple[dict[str, float], str]:
    """MiB per name from `docker stats`, from the cgroup where it reads 0; and which source was used."""
    ids = {name: container_id(c) for name, c in containers.items()}
    fmt = "{{.ID}}\t{{.MemUsage}}"
    out = run(["docker", "stats", "--no-stream", "--no-trunc", "--format", fmt, *ids.values()]).stdout
    by_id = {}
    for line in out.splitlines():
        cid, usage = line.split("\t")
        if m := re.match(r"([\d.]+)\s*([KMG]i?B|[kMG]B|B)", usage.strip()):
            by_id[cid] = float(m.group(1)) * _UNITS[m.group(2)] / MIB
    mem, source = {}, "docker stats"
    for name, cid in ids.items():
        mem[name] = by_id.get(cid) or cgroup_memory(containers[name])
        if not by_id.get(cid):
            source = "cgroup"
    return mem, source
