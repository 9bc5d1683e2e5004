"""Keep-alive clients through a scenario's nginx, as browsers and API clients behave (wrk and h2load: Debian
packages that scripts/ensure-test-tools.sh installs). Used by the release and swarm scenarios; each passes its
site URL and how to get a CSRF token from it."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("wrk_counts.lua")

# Requests per HTTP/2 connection of one h2load round: below nginx's keepalive_requests (1000), after which
# nginx ends a connection with GOAWAY. Browsers resend the streams a GOAWAY refused; h2load counts them as
# errors, which would hide the errors this load is there to find.
H2_REQUESTS_PER_CONNECTION = 800
H2_ROUND_TIMEOUT_S = 120
_H2_REQUESTS = re.compile(
    r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout",
    re.MULTILINE,
)
_H2_STATUSES = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)


@dataclass
class RealClients:
    """Keep-alive clients through nginx for the length of an operation, as browsers and API clients behave:
    wrk (HTTP/1.1, connections reused for every request) sends GETs of `/` and, on connections of their own,
    CSRF-protected POSTs of the language switch (Django answers a fetch() of it 204); h2load (HTTP/2, 8
    streams per connection) GETs `/` and `/healthz` in back-to-back rounds of 800 requests per connection.
    `stop()` waits, bounded by max_seconds, until the operation is over and at least min_requests were
    answered, then stops every client. Socket errors of any kind and every response outside 2xx count as
    failures."""

    # wrk's and h2load's output and wrk's progress files; the site (https://name:port) and its CSRF token.
    workdir: Path
    site: str
    csrf_token: Callable[[], str | None]
    min_requests: int = 50_000
    max_seconds: float = 600.0
    wrk_get_connections: int = 4
    wrk_post_connections: int = 2
    h2_connections: int = 2
    _procs: dict = field(default_factory=dict)
    _h2_rounds: list = field(default_factory=list)
    _h2_stop: threading.Event = field(default_factory=threading.Event)
    _h2_thread: threading.Thread | None = None
    started: float = 0.0
    results: dict = field(default_factory=dict)

    def _wrk(self, name: str, connections: int, path: str, *script_args: str) -> None:
        progress = self.workdir / f"{name}.progress"
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(self.max_seconds) + 60}s",
            "--timeout",
            "20s",
            "-s",
            str(WRK_SCRIPT),
            f"{self.site}{path}",
            "--",
            str(progress),
            *script_args,
        ]
        out = (self.workdir / f"{name}.out").open("w", encoding="utf-8")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - fixed argv
        self._procs[name] = (proc, out, progress)

    def _h2_loop(self) -> None:
        cmd = [
            "h2load",
            f"-c{self.h2_connections}",
            "-m8",
            f"-n{self.h2_connections * H2_REQUESTS_PER_CONNECTION}",
            f"{self.site}/",
            f"{self.site}/healthz",
        ]
        while not self._h2_stop.is_set() and time.monotonic() - self.started < self.max_seconds:
            done = subprocess.run(  # noqa: S603 - fixed argv
                cmd, capture_output=True, text=True, timeout=H2_ROUND_TIMEOUT_S, check=False
            )
            self._h2_rounds.append(done.stdout + done.stderr)

    def __enter__(self) -> RealClients:
        token = self.csrf_token()
        assert token, "GET / set no CSRF cookie"
        self.started = time.monotonic()
        self._wrk("wrk-get", self.wrk_get_connections, "/", "get")
        post = ("post", "language=ru", token, self.site)
        self._wrk("wrk-post", self.wrk_post_connections, "/i18n/setlang/", *post)
        self._h2_thread = threading.Thread(target=self._h2_loop, daemon=True)
        self._h2_thread.start()
        return self

    def answered(self) -> int:
        """Responses so far: wrk's progress files and h2load's finished rounds."""
        total = 0
        for _proc, _out, progress in self._procs.values():
            # Absent until 500 answers, possibly half-written at a given instant.
            with contextlib.suppress(OSError, ValueError):
                total += int(progress.read_text(encoding="utf-8").strip() or 0)
        return total + sum(int(m.group(2)) for r in self._h2_rounds if (m := _H2_REQUESTS.search(r)))

    def stop(self) -> dict:
        while self.answered() < self.min_requests and time.monotonic() - self.started < self.max_seconds:
            time.sleep(0.5)
        self._h2_stop.set()
        for proc, _out, _progress in self._procs.values():
            proc.send_signal(signal.SIGINT)
        for name, (proc, out, _progress) in self._procs.items():
            proc.wait(timeout=60)
            out.close()
            text = (self.workdir / f"{name}.out").read_text(encoding="utf-8")
            line = next((x for x in text.splitlines() if x.startswith("WRK-RESULT ")), None)
            assert line, f"{name} printed no result: {text[-2000:]}"
            result = json.loads(line.removeprefix("WRK-RESULT "))
            self.results[name] = {
                "requests": result["requests"],
                "connection_errors": sum(v for k, v in result["errors"].items() if k != "status"),
                "non_2xx": sum(n for status, n in result["statuses"].items() if not status.startswith("2")),
                "statuses": result["statuses"],
                "release_order": result["release_order"],
                "seconds": result["seconds"],
                "p99_ms": result["p99_ms"],
            }
        self._h2_thread.join(timeout=H2_ROUND_TIMEOUT_S + 30)
        self.results["h2load"] = self._h2_summary()
        return self.results

    def _h2_summary(self) -> dict:
        done = errors = non_2xx = 0
        for text in self._h2_rounds:
            requests, statuses = _H2_REQUESTS.search(text), _H2_STATUSES.search(text)
            assert requests and statuses, f"h2load printed no summary: {text[-2000:]}"
            done += int(requests.group(2))
            # `failed` also counts 4xx/5xx answers, which the status line gives: errored and timed out only.
            errors += int(requests.group(5)) + int(requests.group(6))
            non_2xx += sum(int(statuses.group(i)) for i in (2, 3, 4))
        return {
            "requests": done,
            "connection_errors": errors,
            "non_2xx": non_2xx,
            "rounds": len(self._h2_rounds),
        }

    def __exit__(self, *exc) -> None:
        if not self.results:
            self.stop()

    @property
    def requests(self) -> int:
        return sum(r["requests"] for r in self.results.values())

    @property
    def failures(self) -> dict:
        """Per client, the connection errors and non-2xx responses; empty when there were none."""
        return {
            name: {"connection_errors": r["connection_errors"], "non_2xx": r["non_2xx"]}
            for name, r in self.results.items()
            if r["connection_errors"] or r["non_2xx"]
        }

    def releases_seen(self) -> list[str]:
        """The release labels in the order wrk's GETs first saw them."""
        return self.results["wrk-get"]["release_order"]
