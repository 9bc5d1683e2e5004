"""Load generation: wrk from its container on the stack's networks, rounds interleaved across targets.

Every request that is not answered 2xx/3xx counts as an error, and so does every socket error (connect,
read, write, timeout), so a target that drops connections cannot look fast.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from .containers import cpu_ns, log, run

GZIP = ("Accept-Encoding", "gzip")


@dataclass
class Target:
    key: str
    label: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Containers whose CPU time is counted per request (label -> container name).
    cpu: dict[str, str] = field(default_factory=dict)
    # The load generator's container, when not the Loader's own (its /etc/hosts names other servers).
    client: str | None = None


@dataclass
class WrkResult:
    rps: float
    p50: float
    p99: float
    requests: int
    errors: int
    # CPU microseconds per request, per container (cgroup counters, so load from other processes on the
    # machine does not count, unlike req/s).
    cpu_us: dict[str, float] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> WrkResult:
    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if not m:
            raise ValueError(f"no {pct}% latency in wrk output:\n{out}")
        return float(m.group(1)) * _UNITS[m.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not rps or not total:
        raise ValueError(f"unexpected wrk output:\n{out}")
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return WrkResult(float(rps.group(1)), latency("50"), latency("99"), int(total.group(1)), errors)


def median_result(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50 for r in results),
        statistics.median(r.p99 for r in results),
        sum(r.requests for r in results),
        sum(r.errors for r in results),
        {k: statistics.median(r.cpu_us[k] for r in results) for k in results[0].cpu_us},
    )


# A watcher runs one measurement (the callable it is given) and may observe the machine while it lasts.
Watcher = Callable[[Callable[[], WrkResult]], WrkResult]


@dataclass
class Loader:
    """wrk -t1 -c<connections> in the container `wrk`; `repeat` rounds after a warm-up per target."""

    wrk: str
    connections: int
    duration: int
    repeat: int
    warmup: int
    loads: list[float] = field(default_factory=list)  # the machine's load average at every run
    stalls: list[str] = field(default_factory=list)  # targets that answered nothing in a whole run

    def once(self, t: Target, duration: int) -> WrkResult:
        client = t.client or self.wrk
        cmd = ["docker", "exec", client, "wrk", "-t1", f"-c{self.connections}", f"-d{duration}s"]
        cmd += ["--latency", "--timeout", "5s"]
        for name, value in t.headers:
            cmd += ["-H", f"{name}: {value}"]
        counted = {**t.cpu, "wrk": client}
        before = {k: cpu_ns(c) for k, c in counted.items()}
        result = parse_wrk(run([*cmd, t.url], timeout=duration + 30).stdout)
        after = {k: cpu_ns(c) for k, c in counted.items()}
        result.cpu_us = {k: (after[k] - before[k]) / 1000 / max(result.requests, 1) for k in counted}
        return result

    def measure(self, t: Target, duration: int) -> WrkResult:
        self.loads.append(os.getloadavg()[0])
        result = self.once(t, duration)
        if result.requests == 0:
            # Not one answer in the whole run: gunicorn stalls for seconds when its workers recycle
            # (max_requests); counted, then measured once more so that a short run still gives a figure.
            self.stalls.append(t.key)
            log(f"{t.key}: no response in {duration} s (stall), running it again")
            result = self.once(t, duration)
        return result

    def rounds(
        self, targets: list[Target], *, duration: int | None = None, watch: dict[str, Watcher] | None = None
    ) -> dict[str, WrkResult]:
        """Warm-up, then `repeat` rounds over the targets (interleaved, so drift hits all alike); the median
        per target. A target in `watch` is measured through its watcher."""
        watch = watch or {}
        seconds = duration or self.duration
        for t in targets:
            if self.warmup:
                self.measure(t, self.warmup)
        results: dict[str, list[WrkResult]] = {t.key: [] for t in targets}
        for _ in range(self.repeat):
            for t in targets:
                run_it = lambda t=t: self.measure(t, seconds)  # noqa: E731
                results[t.key].append(watch[t.key](run_it) if t.key in watch else run_it())
        return {key: median_result(rs) for key, rs in results.items()}
