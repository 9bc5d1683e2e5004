"""Several containers of one release slot (GUNICORN_REPLICAS, WEB_REPLICAS of docker/compose.yml).

They share the slot's socket directory, and nginx lists one socket per replica (the nginx role's
`nginx_replica_sockets` filter names them the same way). Each container claims the first free number with a
lock it holds for as long as it runs: numbers need no coordination and a container that restarts takes the
number its predecessor left.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

# Per socket directory, the number this process holds: a configuration reload (SIGHUP) reads
# gunicorn.conf.py again in the same master, which keeps its number and its lock.
_held: dict[str, int] = {}


def socket_path(path: Path, number: int) -> Path:
    """Replica 1 binds the path itself (as a single container does), replica N `<stem>-N<suffix>`."""
    return path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def claim(directory: Path, replicas: int) -> int:
    """The first number from 1 to `replicas` whose lock file in `directory` no other process holds. The
    lock's descriptor stays open on purpose: the lock lasts until this process and its forks exit."""
    for number in range(1, replicas + 1):
        fd = os.open(directory / f".replica-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return number
    raise RuntimeError(
        f"GUNICORN_REPLICAS={replicas}: replicas 1 to {replicas} already run with the sockets in {directory};"
        " start no more containers of this slot than GUNICORN_REPLICAS (WEB_REPLICAS)"
    )


def replica_binds(binds: list[str], replicas: int) -> list[str]:
    """GUNICORN_BIND for this replica: its `unix:` socket renamed for the number it claims."""
    if replicas < 1:
        raise ValueError(f"GUNICORN_REPLICAS must be 1 or more, got {replicas}")
    if replicas == 1:
        return binds
    sockets = [b for b in binds if b.startswith("unix:")]
    if len(sockets) != 1:
        raise ValueError("GUNICORN_REPLICAS above 1 needs exactly one unix: socket in GUNICORN_BIND")
    path = Path(sockets[0].removeprefix("unix:"))
    key = str(path.parent)
    if key not in _held:
        _held[key] = claim(path.parent, replicas)
    mine = f"unix:{socket_path(path, _held[key])}"
    return [mine if b == sockets[0] else b for b in binds]
