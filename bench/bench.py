"""Measurements and report of `make bench` (bench/run.sh starts and removes the stack; see its header).

    python3 bench/bench.py free-resources      # two free 127.0.0.1 ports and a free 172.30.x.0/24 subnet
    python3 bench/bench.py measure ...         # everything else (called by bench/run.sh)

Standard library only: it runs with the system python3 before any virtualenv exists.
"""

# ruff: noqa: S603, S607, S108, S608
# (it runs docker, curl and psql with arguments it builds itself; /tmp paths are inside containers; the one
# SQL string interpolates an address read from docker inspect)
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "site.bench.test"
BARE_DOMAIN = "bare.bench.test"
MIB = 1024 * 1024
GZIP = ("Accept-Encoding", "gzip")
# gunicorn candidates measured side by side with web's committed settings and the naive setup: each is a
# container of the same image with web's environment plus these overrides, loaded directly like web.
GUNICORN_VARIANTS = [
    ("2x4 gthread", {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4"}),
    ("2x2 gthread", {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2"}),
    ("2 sync", {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "1"}),
    ("3 sync", {"GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "1"}),
    ("4 sync", {"GUNICORN_WORKERS": "4", "GUNICORN_THREADS": "1"}),
    (
        "2x4 gthread, no access log",
        {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "GUNICORN_ACCESS_LOG": "false"},
    ),
]


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float = 120, check: bool = True, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
    return result


# --- free ports and subnet (same approach as tests/stack/test_stack.py) ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_subnet() -> str:
    used = []
    ids = run(["docker", "network", "ls", "-q"]).stdout.split()
    if ids:
        for net in json.loads(run(["docker", "network", "inspect", *ids]).stdout):
            for cfg in (net.get("IPAM") or {}).get("Config") or []:
                if ":" not in cfg.get("Subnet", ":"):
                    used.append(ipaddress.ip_network(cfg["Subnet"]))
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        dest, mask = (ipaddress.IPv4Address(bytes.fromhex(f)[::-1]) for f in (fields[1], fields[7]))
        if int(mask):
            used.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    for _ in range(200):
        candidate = ipaddress.ip_network(f"172.30.{secrets.randbelow(250) + 1}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return str(candidate)
    raise RuntimeError("no free 172.30.x.0/24 subnet")


# --- wrk ---


@dataclass
class Target:
    key: str
    label: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Containers whose CPU time is counted per request (label -> container name).
    cpu: dict[str, str] = field(default_factory=dict)


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


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> WrkResult:
    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if not m:
            raise ValueError(f"no {pct}% latency in wrk output:\n{out}")
        return float(m.group(1)) * UNITS[m.group(2)]

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


def cgroup_dirs(container_id: str) -> list[Path]:
    return [
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope"),
        Path(f"/sys/fs/cgroup/docker/{container_id}"),
    ]


def cpu_ns(container_id: str) -> int:
    """CPU time a container has used so far (cgroup v2 cpu.stat, or v1 cpuacct)."""
    for base in cgroup_dirs(container_id):
        if (base / "cpu.stat").exists():
            stat = dict(line.split() for line in (base / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) * 1000
    return int(Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage").read_text())


# --- the run ---


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.project = args.project
        self.state = Path(args.state)
        self.quick = args.quick
        self.duration = 1 if self.quick else int(os.environ.get("BENCH_DURATION", "8"))
        self.repeat = 1 if self.quick else int(os.environ.get("BENCH_REPEAT", "3"))
        self.connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
        self.warmup = 0 if self.quick else 2
        self.wrk = f"{self.project}-wrk"
        self.naive = f"{self.project}-naive"
        self.bare = f"{self.project}-bare"
        self.figures: dict = {"notes": []}
        self.services: dict[str, str] = {}
        self.psql_lock = threading.Lock()
        self.psql: subprocess.Popen | None = None
        self.memory_source = "docker stats"
        self.stalls: list[str] = []
        self.ids: dict[str, str] = {}
        self.loads: list[float] = []
        self.variant_containers: dict[str, str] = {}

    def cid(self, container: str) -> str:
        if container not in self.ids:
            self.ids[container] = run(["docker", "inspect", "-f", "{{.Id}}", container]).stdout.strip()
        return self.ids[container]

    # docker helpers
    def container_ids(self) -> dict[str, str]:
        out = run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}"]
        ).stdout
        found = json.loads(run(["docker", "inspect", *out.split()]).stdout)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c["Name"].lstrip("/") for c in found}

    def ip(self, container: str, network: str) -> str:
        fmt = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
        return run(["docker", "inspect", "-f", fmt, container]).stdout.strip()

    def curl(self, url: str, headers: list[tuple[str, str]] = ()) -> tuple[int, bytes, str]:
        """Status, body and response headers of one request from the load generator's container."""
        cmd = ["docker", "exec", self.wrk, "curl", "-sk", "--max-time", "10", "-D", "/dev/stderr"]
        for name, value in headers:
            cmd += ["-H", f"{name}: {value}"]
        res = subprocess.run(
            [*cmd, "-w", "\n%{http_code}", url], capture_output=True, timeout=30, check=False
        )
        body, _, status = res.stdout.rpartition(b"\n")
        return int(status or 0), body, res.stderr.decode(errors="replace").lower()

    # setup
    def setup(self) -> None:
        self.services = self.container_ids()
        frontend, backend = f"{self.project}_frontend", f"{self.project}_backend"
        env = self.web_env()
        self.workers = int(env.get("GUNICORN_WORKERS", "2"))
        self.threads = int(env.get("GUNICORN_THREADS", "4"))

        # The naive setup: gunicorn's defaults (no config file: the working directory is not /app, where
        # gunicorn.conf.py would be picked up), same image, same database. FORWARDED_ALLOW_IPS lets it
        # believe X-Forwarded-Proto like web does, so both serve the page rather than an HTTPS redirect.
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                self.naive,
                "--network",
                backend,
                "--env-file",
                str(self.state / "stack.env"),
                "-e",
                "POSTGRES_HOST=db",
                "-e",
                "FORWARDED_ALLOW_IPS=*",
                "--workdir",
                "/tmp",
                self.args.app_image,
                "gunicorn",
                "--chdir",
                "/app",
                "--bind",
                "0.0.0.0:8000",
                "config.wsgi",
            ]
        )
        # A bare nginx: same image, same certificate and TLS parameters, the same static volume, and nothing
        # else (no security or cache headers, no regex location).
        bare_conf = self.state / "bare"
        bare_conf.mkdir(exist_ok=True)
        (bare_conf / "default.conf").write_text(
            "server {\n    listen 443 ssl;\n    http2 on;\n    server_name _;\n"
            "    ssl_certificate /etc/nginx/tls/fullchain.pem;\n"
            "    ssl_certificate_key /etc/nginx/tls/privkey.pem;\n"
            "    include /etc/nginx/snippets/tls-params.conf;\n"
            "    root /srv;\n    gzip_static on;\n    access_log off;\n}\n"
        )
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                self.bare,
                "--network",
                frontend,
                "-v",
                f"{bare_conf}:/etc/nginx/conf.d:ro",
                "-v",
                f"{self.state / 'tls'}:/etc/nginx/tls:ro",
                "-v",
                f"{ROOT / 'ansible/roles/nginx/files/snippets'}:/etc/nginx/snippets:ro",
                "-v",
                f"{self.project}_static:/srv/static:ro",
                self.args.nginx_image,
            ]
        )
        run(["docker", "run", "-d", "--name", self.wrk, "--network", frontend, self.args.wrk_image])
        run(["docker", "network", "connect", backend, self.wrk])
        self.refresh()

    def refresh(self) -> None:
        """Addresses of the targets (again after web and nginx were recreated), the load generator's
        /etc/hosts (the TLS server names resolve to the two nginx), the targets, and their check."""
        self.services = self.container_ids()
        frontend, backend = f"{self.project}_frontend", f"{self.project}_backend"
        self.nginx_ip = self.ip(self.services["nginx"], frontend)
        self.web_ip = self.ip(self.services["web"], frontend)
        self.web_backend_ip = self.ip(self.services["web"], backend)
        self.naive_ip = self.ip(self.naive, backend)
        self.bare_ip = self.ip(self.bare, frontend)
        hosts = f"{self.nginx_ip} {DOMAIN}\n{self.bare_ip} {BARE_DOMAIN}\n"
        run(
            [
                "docker",
                "exec",
                self.wrk,
                "sh",
                "-c",
                "grep -v bench.test /etc/hosts > /tmp/hosts; cat /tmp/hosts > /etc/hosts; "
                f"printf '{hosts}' >> /etc/hosts",
            ]
        )
        app = [("Host", DOMAIN), ("X-Forwarded-Proto", "https")]
        self.app_headers = app
        svc = self.services
        self.dynamic = [
            Target(
                "stack",
                "stack: nginx (HTTPS) -> gunicorn",
                f"https://{DOMAIN}:443/",
                cpu={"nginx": svc["nginx"], "web": svc["web"], "db": svc["db"]},
            ),
            Target(
                "direct",
                "gunicorn direct (same web container)",
                f"http://{self.web_ip}:8000/",
                app,
                cpu={"web": svc["web"], "db": svc["db"]},
            ),
            Target(
                "naive",
                "naive: `gunicorn config.wsgi` (1 sync worker)",
                f"http://{self.naive_ip}:8000/",
                app,
                cpu={"naive": self.naive, "db": svc["db"]},
            ),
        ]
        deadline = time.monotonic() + 60
        while True:
            status, body, _ = self.curl(self.dynamic[2].url, app)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the naive setup does not answer 200 (last: {status})")
            time.sleep(0.5)
        match = re.search(r'/static/[^"\'\s]+\.[0-9a-f]{12}\.css', body.decode())
        if not match:
            raise RuntimeError("no hashed CSS link in the page")
        css = match.group(0)
        self.static = []
        for gz in (False, True):
            hdr = [GZIP] if gz else []
            suffix = " gzip" if gz else ""
            self.static += [
                Target(
                    f"static-stack{suffix}",
                    f"stack nginx{suffix}",
                    f"https://{DOMAIN}:443{css}",
                    hdr,
                    cpu={"nginx": svc["nginx"]},
                ),
                Target(
                    f"static-wn{suffix}",
                    f"WhiteNoise in gunicorn{suffix}",
                    f"http://{self.web_ip}:8000{css}",
                    app + hdr,
                    cpu={"web": svc["web"]},
                ),
                Target(
                    f"static-bare{suffix}",
                    f"bare nginx{suffix}",
                    f"https://{BARE_DOMAIN}:443{css}",
                    hdr,
                    cpu={"bare": self.bare},
                ),
            ]
        self.check_targets(css)

    def web_env(self) -> dict[str, str]:
        env = json.loads(
            run(["docker", "inspect", "-f", "{{json .Config.Env}}", self.services["web"]]).stdout
        )
        return dict(item.split("=", 1) for item in env)

    def check_targets(self, css: str) -> None:
        sizes = {}
        for t in self.dynamic + self.static:
            status, body, headers = self.curl(t.url, t.headers)
            if status != 200:
                raise RuntimeError(f"{t.label}: {t.url} answered {status}")
            gz = "content-encoding: gzip" in headers
            if (GZIP in t.headers) != gz:
                raise RuntimeError(f"{t.label}: gzip expected {GZIP in t.headers}, got {gz}")
            if t.key.startswith("static"):
                sizes[gz] = len(body)
        self.figures["static_file"] = {"path": css, "bytes": sizes[False], "gzip_bytes": sizes[True]}

    # psql through one long-lived session (a session per query would count as a new connection)
    def sql(self, query: str) -> str:
        with self.psql_lock:
            if self.psql is None:
                self.psql = subprocess.Popen(
                    [
                        "docker",
                        "exec",
                        "-i",
                        self.services["db"],
                        "psql",
                        "-U",
                        "app",
                        "-d",
                        "app",
                        "-At",
                        "-v",
                        "ON_ERROR_STOP=0",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                )
            marker = f"--end-{secrets.token_hex(4)}"
            self.psql.stdin.write(f"{query};\n\\echo {marker}\n")
            self.psql.stdin.flush()
            lines = []
            while (line := self.psql.stdout.readline()) and line.strip() != marker:
                lines.append(line.strip())
            return "\n".join(lines)

    def sessions(self) -> int:
        return int(self.sql("select sessions from pg_stat_database where datname = current_database()"))

    def web_connections(self) -> int:
        return int(
            self.sql(f"select count(*) from pg_stat_activity where client_addr = '{self.web_backend_ip}'")
        )

    @staticmethod
    def cgroup_memory(container_id: str) -> float:
        """MiB used by a container as `docker stats` computes it (usage minus inactive page cache), read from
        its cgroup: on some machines (nested cgroup v1) `docker stats` itself reports 0 B."""
        for base in cgroup_dirs(container_id):
            if (base / "memory.current").exists():
                stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
                return (int((base / "memory.current").read_text()) - int(stat.get("inactive_file", 0))) / MIB
        base = Path(f"/sys/fs/cgroup/memory/docker/{container_id}")
        stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
        return (
            int((base / "memory.usage_in_bytes").read_text()) - int(stat.get("total_inactive_file", 0))
        ) / MIB

    def stack_memory(self) -> dict[str, float]:
        ids = {
            svc: run(["docker", "inspect", "-f", "{{.Id}}", name]).stdout.strip()
            for svc, name in self.services.items()
            if svc in ("db", "web", "nginx")
        }
        fmt = "{{.ID}}\t{{.MemUsage}}"
        out = run(["docker", "stats", "--no-stream", "--no-trunc", "--format", fmt, *ids.values()]).stdout
        factor = {"B": 1, "KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB, "kB": 1e3, "MB": 1e6, "GB": 1e9}
        by_id = {}
        for line in out.splitlines():
            cid, usage = line.split("\t")
            if m := re.match(r"([\d.]+)\s*([KMG]i?B|[kMG]B|B)", usage.strip()):
                by_id[cid] = float(m.group(1)) * factor[m.group(2)] / MIB
        mem = {}
        for svc, cid in ids.items():
            mem[svc] = by_id.get(cid) or self.cgroup_memory(cid)
            if not by_id.get(cid):
                self.memory_source = "cgroup"
        return mem

    def wrk_run(self, t: Target, duration: int) -> WrkResult:
        cmd = [
            "docker",
            "exec",
            self.wrk,
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "5s",
        ]
        for name, value in t.headers:
            cmd += ["-H", f"{name}: {value}"]
        counted = {**t.cpu, "wrk": self.wrk}

        def once() -> WrkResult:
            before = {k: cpu_ns(self.cid(c)) for k, c in counted.items()}
            result = parse_wrk(run([*cmd, t.url], timeout=duration + 30).stdout)
            after = {k: cpu_ns(self.cid(c)) for k, c in counted.items()}
            result.cpu_us = {k: (after[k] - before[k]) / 1000 / max(result.requests, 1) for k in counted}
            return result

        self.loads.append(os.getloadavg()[0])
        result = once()
        if result.requests == 0:
            # Not one answer in the whole run: gunicorn stalls for seconds when its workers recycle
            # (max_requests); counted, then measured once more so that a short run still gives a figure.
            self.stalls.append(t.key)
            log(f"{t.key}: no response in {duration} s (stall), running it again")
            result = once()
        return result

    def load(
        self, targets: list[Target], *, watch: set[str] = frozenset(), duration: int | None = None
    ) -> dict[str, WrkResult]:
        """Warm-up, then `repeat` rounds over the targets (interleaved, so drift hits all alike)."""
        for t in targets:
            if self.warmup:
                self.wrk_run(t, self.warmup)
        results: dict[str, list[WrkResult]] = {t.key: [] for t in targets}
        for _ in range(self.repeat):
            for t in targets:
                if t.key in watch:
                    results[t.key].append(self.watched_run(t))
                else:
                    results[t.key].append(self.wrk_run(t, duration or self.duration))
        return {key: median_result(rs) for key, rs in results.items()}

    def watched_run(self, t: Target) -> WrkResult:
        """A run through web with the database connections and the memory watched while it lasts."""
        before = self.sessions()
        stop = threading.Event()
        peak = [0]

        def sample_connections() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self.web_connections())
                stop.wait(0.2)

        def sample_memory() -> None:
            if not stop.wait(self.duration * 0.4):
                mem = self.stack_memory()
                for svc, value in mem.items():
                    self.load_mem[svc] = max(self.load_mem.get(svc, 0.0), value)
                self.load_total = max(self.load_total, sum(mem.values()))

        threads = [threading.Thread(target=sample_connections), threading.Thread(target=sample_memory)]
        for th in threads:
            th.start()
        try:
            result = self.wrk_run(t, self.duration)
        finally:
            stop.set()
            for th in threads:
                th.join()
        time.sleep(0.5)  # let the last backends report their session (statistics are flushed about every 1 s)
        self.new_connections += self.sessions() - before
        self.watched_requests += result.requests
        self.peak_connections = max(self.peak_connections, peak[0])
        return result

    # figures
    def measure(self) -> None:
        started = time.monotonic()
        self.setup()
        self.figures["stack_up_seconds"] = self.args.up_seconds
        self.figures["workers"], self.figures["threads"] = self.workers, self.threads
        self.figures["image_mb"] = (
            int(run(["docker", "image", "inspect", "-f", "{{.Size}}", self.args.app_image]).stdout) / 1e6
        )
        self.figures["gunicorn"] = self.gunicorn_settings()
        self.figures["image_parts"] = self.image_parts()
        time.sleep(2)
        self.figures["memory_idle"] = self.stack_memory()
        self.watch_reset()
        log(f"dynamic page: {len(self.dynamic)} targets x {self.repeat} x {self.duration} s")
        dyn = self.load(self.dynamic, watch={"stack"})
        self.figures["dynamic"] = {k: vars(v) for k, v in dyn.items()}
        self.figures["memory_load"] = self.load_mem
        self.figures["memory_load_total"] = self.load_total
        self.figures["db"] = {
            "new_connections": self.new_connections,
            "requests": self.watched_requests,
            "per_1000": 1000 * self.new_connections / max(self.watched_requests, 1),
            "peak_open": self.peak_connections,
        }
        log(f"static file: {len(self.static)} targets x {self.repeat} x {self.duration} s")
        self.figures["static"] = {k: vars(v) for k, v in self.load(self.static).items()}
        self.gunicorn_variants()
        self.figures["load_seconds"] = round(time.monotonic() - started)
        self.figures["stalls"] = self.stalls
        self.figures["memory_source"] = self.memory_source
        self.builds()

    def gunicorn_settings(self) -> dict[str, str]:
        """The settings web's gunicorn really runs with (its config file under the container's "
        "environment)."""
        out = run(
            [
                "docker",
                "exec",
                self.services["web"],
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--print-config",
                "config.wsgi",
            ]
        ).stdout
        keys = ("workers", "threads", "worker_class", "max_requests", "max_requests_jitter", "keepalive")
        found = dict(re.findall(r"^(\w+)\s+= (.*)$", out, re.M))
        return {k: found.get(k, "?") for k in keys}

    def image_parts(self) -> dict[str, float]:
        """MB (10^6 bytes) of the app image's parts that a slimmer image could drop."""
        script = (
            "cd /opt/venv/lib/python3*/site-packages && "
            "du='du -sck --apparent-size'; "
            "echo venv $($du /opt/venv | tail -1 | cut -f1); echo pip $($du pip | tail -1 | cut -f1); "
            "echo gis $($du django/contrib/gis | tail -1 | cut -f1); "
            "echo locales $($du django/conf/locale django/contrib/*/locale | tail -1 | cut -f1); "
            "echo kept_locales $($du django/conf/locale/ru django/conf/locale/en "
            "django/contrib/*/locale/ru django/contrib/*/locale/en | tail -1 | cut -f1)"
        )
        out = run(["docker", "run", "--rm", "--entrypoint", "sh", self.args.app_image, "-c", script]).stdout
        kib = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
        base = (
            int(run(["docker", "image", "inspect", "-f", "{{.Size}}", self.args.python_image]).stdout) / 1e6
        )
        return {
            "base": base,
            "venv": kib["venv"] * 1024 / 1e6,
            "pip": kib["pip"] * 1024 / 1e6,
            "other_locales": (kib["locales"] - kib["kept_locales"]) * 1024 / 1e6,
            "gis": kib["gis"] * 1024 / 1e6,
        }

    def watch_reset(self) -> None:
        self.load_mem = {}
        self.load_total = 0.0
        self.new_connections = 0
        self.watched_requests = 0
        self.peak_connections = 0

    def gunicorn_variants(self) -> None:
        """gunicorn settings side by side: one container per candidate (web's image and environment plus the
        candidate's GUNICORN_* values), all loaded directly, interleaved with web and the naive setup."""
        backend = f"{self.project}_backend"
        env_file = self.state / "variant.env"
        web_env = self.web_env()
        keep = {k: v for k, v in web_env.items() if k.startswith(("DJANGO_", "POSTGRES_", "GUNICORN_"))}
        env_file.write_text("".join(f"{k}={v}\n" for k, v in keep.items()))
        for i, (name, env) in enumerate(GUNICORN_VARIANTS):
            container = f"{self.project}-gv{i}"
            self.variant_containers[name] = container
            overrides = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
            run(
                [
                    "docker", "run", "-d", "--name", container, "--network", backend,
                    "--env-file", str(env_file), "-e", "GUNICORN_FORWARDED_ALLOW_IPS=*",
                    "--memory", "384m", *overrides, self.args.app_image,
                ]
            )  # fmt: skip
        targets = [self.dynamic[1], self.dynamic[2]]
        for name, container in self.variant_containers.items():
            ip = self.ip(container, backend)
            targets.append(
                Target(
                    f"variant {name}",
                    name,
                    f"http://{ip}:8000/",
                    self.app_headers,
                    cpu={"web": container, "db": self.services["db"]},
                )
            )
        deadline = time.monotonic() + 90
        for t in targets[2:]:
            while (status := self.curl(t.url, t.headers)[0]) != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn variant {t.label} does not answer 200 (last: {status})")
                time.sleep(0.5)
        time.sleep(2)
        idle = {name: self.cgroup_memory(self.cid(c)) for name, c in self.variant_containers.items()}
        # Shorter runs (8 targets): the comparison rests on CPU per request, which needs fewer requests.
        duration = max(1, round(self.duration * 5 / 8))
        log(f"gunicorn variants: {len(targets)} targets x {self.repeat} x {duration} s")
        results = self.load(targets, duration=duration)
        for name, env in GUNICORN_VARIANTS:
            # The switch works (GUNICORN_ACCESS_LOG): access lines exactly where they are expected.
            logs = run(["docker", "logs", self.variant_containers[name]]).stdout
            if ("[gunicorn.access]" in logs) != (env.get("GUNICORN_ACCESS_LOG", "false") != "false"):
                raise RuntimeError(f"gunicorn candidate {name}: access log lines do not match its settings")
        self.figures["variants"] = {
            "duration": duration,
            "direct": vars(results["direct"]),
            "naive": vars(results["naive"]),
            "candidates": [
                {
                    "name": name,
                    "env": env,
                    "memory_idle": idle[name],
                    **vars(results[f"variant {name}"]),
                }
                for name, env in GUNICORN_VARIANTS
            ],
        }

    def build(self, no_cache: bool) -> float:
        cmd = [
            "docker",
            "build",
            "--quiet",
            "--file",
            str(ROOT / "docker/Dockerfile"),
            "--build-arg",
            f"PYTHON_IMAGE={self.args.python_image}",
            "--build-arg",
            "APP_RELEASE=bench",
            "--tag",
            f"djangoapp/web:{self.project}-build",
            str(ROOT / "app"),
        ]
        if no_cache:
            cmd.insert(2, "--no-cache")
        started = time.monotonic()
        run(cmd, timeout=600, env={**os.environ, "DOCKER_BUILDKIT": "1"})
        return time.monotonic() - started

    def builds(self) -> None:
        if not self.quick:
            log("cold build of the app image (--no-cache)")
            self.figures["build_cold_s"] = self.build(no_cache=True)
        log("warm build of the app image")
        self.figures["build_warm_s"] = self.build(no_cache=False)

    def close(self) -> None:
        if self.psql is not None:
            self.psql.stdin.close()
            self.psql.wait(timeout=10)


# --- deploy (bench/run.sh --deploy) ---


def task_seconds(log_text: str) -> list[tuple[str, float]]:
    """(task, seconds) of one ansible-playbook run, from profile_tasks' summary at the end (every task when
    PROFILE_TASKS_TASK_OUTPUT_LIMIT=all, as deploy_figures sets it), else from its per-task timestamp lines
    (each gives the previous task's duration; a skipped task's hidden header can shift one attribution)."""
    summary = [
        (m[1].strip(), float(m[2])) for m in re.finditer(r"^(\S.*?) -{2,} ([\d.]+)s\s*$", log_text, re.M)
    ]
    timed = _timestamp_seconds(log_text)
    return summary if len(summary) >= len(timed) - 5 else timed


def _timestamp_seconds(log_text: str) -> list[tuple[str, float]]:
    # profile_tasks prints a timestamp line when a task starts, with the previous task's duration; it lands
    # after that task's header and result. A skipped task's header is hidden (display_skipped_hosts), so a
    # second timestamp with no header in between belongs to a hidden task of the same role.
    tasks: list[tuple[str, float]] = []
    task, fresh = None, False
    for line in log_text.splitlines():
        if m := re.match(r"TASK \[(.*)\]", line):
            task, fresh = m.group(1), True
            continue
        if task and (m := re.search(r"\((\d+):(\d+):([\d.]+)\)\s+\d+:\d+:[\d.]+ \*+\s*$", line)):
            seconds = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
            role = task.split(" : ")[0] + " : " if " : " in task else ""
            tasks.append((task if fresh else f"{role}(skipped task)", seconds))
            fresh = False
    return tasks


def role_seconds(log_text: str) -> dict[str, list[float]]:
    """[seconds, tasks] per role of one ansible-playbook run."""
    found: dict[str, list[float]] = {}
    for task, seconds in task_seconds(log_text):
        role = task.split(" : ")[0] if " : " in task else "(plays)"
        entry = found.setdefault(role, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
    return {k: [round(v[0], 1), v[1]] for k, v in sorted(found.items(), key=lambda kv: -kv[1][0])}


def deploy_figures(out: Path) -> int:
    """Times scripts/deploy.sh on a fresh sandbox host: cold deploy, no-op rerun (its changed count from the
    recap), the same rerun with Ansible's plain linear strategy instead of Mitogen's (ansible.cfg's default),
    code-only redeploy (`--app-only` with a new release label: the image is rebuilt from the warm cache,
    delivered, migrated and switched to). Everything runs from a clone of the committed HEAD, so the
    working tree is neither used (edits in progress do not leak into a rerun) nor touched, and the release
    labels are fixed, so the rerun has unchanged inputs. Writes the figures to `out` (JSON)."""
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-deploy-{secrets.token_hex(3)}"
    logs.mkdir()
    src = logs / "src"
    run(["git", "clone", "--quiet", str(ROOT), str(src)])
    deploy_sh, sandbox_sh = str(src / "scripts/deploy.sh"), str(src / "scripts/sandbox-host.sh")
    commit = run(["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"]).stdout.strip()
    release = f"bench-{commit}"
    # The project's tools (make venv) for the clone, which has no virtualenv of its own.
    path = f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"
    fig: dict = {"commit": commit, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    fig["load_before"] = os.getloadavg()[0]

    def timed(name: str, cmd: list[str], **extra_env: str) -> tuple[float, str]:
        log(f"deploy: {name}: {' '.join(cmd[1:])}")
        started = time.monotonic()
        env = {**os.environ, "PATH": path, "ANSIBLE_NOCOLOR": "1", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
        env.update(extra_env)
        result = run(cmd, timeout=1200, check=False, env=env)
        seconds = time.monotonic() - started
        (logs / f"{name}.log").write_text(result.stdout + result.stderr)
        fig.setdefault("roles", {})[name] = role_seconds(result.stdout)
        slowest = sorted(task_seconds(result.stdout), key=lambda ts: -ts[1])[:8]
        fig.setdefault("slowest", {})[name] = [[t, round(sec, 1)] for t, sec in slowest]
        if result.returncode != 0:
            fig.setdefault("failed", []).append(name)
            log(f"deploy: {name} failed after {seconds:.0f} s (exit {result.returncode}), log in {logs}")
        return seconds, result.stdout

    def recap(out: str) -> dict[str, int]:
        found = re.findall(r"ok=(\d+)\s+changed=(\d+)", out)
        return {"ok": sum(int(a) for a, _ in found), "changed": sum(int(b) for _, b in found)}

    run([sandbox_sh, "destroy"], timeout=300)
    fig["host_create_s"], _ = timed("create", [sandbox_sh, "create"])
    fig["cold_s"], out_cold = timed("cold", [deploy_sh, "sandbox", "-e", f"stack_release={release}"])
    fig["cold"] = recap(out_cold)
    fig["noop_s"], out_noop = timed("noop", [deploy_sh, "sandbox", "-e", f"stack_release={release}"])
    fig["noop"] = recap(out_noop)
    fig["noop_linear_s"], out_linear = timed(
        "noop-linear", [deploy_sh, "sandbox", "-e", f"stack_release={release}"], ANSIBLE_STRATEGY="linear"
    )
    fig["noop_linear"] = recap(out_linear)
    fig["code_only_s"], out_code = timed(
        "code-only", [deploy_sh, "sandbox", "--app-only", "-e", f"stack_release={release}-2"]
    )
    fig["code_only"] = recap(out_code)
    fig["load_after"] = os.getloadavg()[0]
    fig["logs"] = str(logs)
    subprocess.run(["rm", "-rf", str(src)], check=False)
    out.write_text(json.dumps(fig, indent=2) + "\n")
    log(f"deploy figures: {json.dumps(fig)}")
    return 1 if fig.get("failed") else 0


# --- report ---


def fmt_rps(r: dict) -> str:
    return f"{r['rps']:,.0f}"


def num(value: float | None, spec: str) -> str:
    """`value` formatted, or n/a when it could not be computed."""
    return "n/a" if value is None else format(value, spec)


def server_cpu(r: dict) -> float:
    """CPU microseconds per request on the serving side (every counted container but the load generator)."""
    return sum(v for k, v in r.get("cpu_us", {}).items() if k != "wrk")


def cpu_text(r: dict) -> str:
    parts = " + ".join(f"{k} {v:,.0f}" for k, v in r.get("cpu_us", {}).items() if k != "wrk")
    return f"{server_cpu(r):,.0f} ({parts})" if "+" in parts else f"{server_cpu(r):,.1f}"


def ratio(group: dict, a: str, b: str) -> float | None:
    if a in group and b in group and group[b]["rps"]:
        return group[a]["rps"] / group[b]["rps"]
    return None


def report(fig: dict, quick: bool) -> tuple[str, str, list[str]]:
    """The markdown tables and the list of missing figures."""
    missing = []
    dyn, sta = fig.get("dynamic", {}), fig.get("static", {})
    variants = (fig.get("variants") or {}).get("candidates") or []
    for group, keys in (
        (dyn, ["stack", "direct", "naive"]),
        (sta, [f"static-{w}{g}" for w in ("stack", "wn", "bare") for g in ("", " gzip")]),
        ({v["name"]: v for v in variants}, [name for name, _ in GUNICORN_VARIANTS]),
    ):
        for key in keys:
            r = group.get(key)
            if r is None or r["requests"] == 0:
                missing.append(f"wrk {key}")
            elif r["errors"]:
                missing.append(f"wrk {key} ({r['errors']} errors or non-2xx responses)")
            elif not r.get("cpu_us"):
                missing.append(f"CPU per request {key}")
    w = fig["wrk"]
    lines = [
        f"| load (wrk -t1 -c{w['c']} -d{w['d']}s, median of {w['n']}) | req/s | p50 ms | p99 ms "
        "| server CPU us/request | ratio (req/s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    labels = {
        "stack": "`/` through the stack (nginx HTTPS -> gunicorn {w}x{t} {c})",
        "direct": "`/` direct to gunicorn (same web container)",
        "naive": "`/` naive `gunicorn config.wsgi` (1 sync worker)",
        "static-stack": "CSS through the stack's nginx",
        "static-wn": "CSS through WhiteNoise in gunicorn",
        "static-bare": "CSS through a bare nginx",
    }
    g = fig.get("gunicorn", {})

    def row(key: str, group: dict, label_key: str, extra: str = "") -> None:
        r = group.get(key)
        label = (
            labels[label_key].format(w=fig["workers"], t=fig["threads"], c=g.get("worker_class", "")) + extra
        )
        if r is None:
            lines.append(f"| {label} | missing | | | | |")
            return
        rat = ""
        if key == "stack":
            naive, direct = ratio(group, "stack", "naive"), ratio(group, "stack", "direct")
            rat = f"{num(naive, '.2f')}x naive, {num(direct, '.2f')}x direct"
        elif key == "direct":
            rat = f"{num(ratio(group, 'direct', 'naive'), '.2f')}x naive"
        elif key.startswith("static-stack"):
            gz = key[len("static-stack") :]
            rat = (
                f"{num(ratio(group, key, 'static-bare' + gz), '.2f')}x bare, "
                f"{num(ratio(group, key, 'static-wn' + gz), '.1f')}x WhiteNoise"
            )
        lines.append(f"| {label} | {fmt_rps(r)} | {r['p50']:.2f} | {r['p99']:.2f} | {cpu_text(r)} | {rat} |")

    for key in ("stack", "direct", "naive"):
        row(key, dyn, key)
    for gz in ("", " gzip"):
        for who in ("stack", "wn", "bare"):
            row(
                f"static-{who}{gz}", sta, f"static-{who}", " (Accept-Encoding: gzip)" if gz else " (identity)"
            )

    # gunicorn candidates, side by side
    vlines = []
    if variants:
        vf = fig["variants"]
        vd = vf.get("duration", w["d"])
        vlines = [
            f"| `/` direct, side by side (wrk -t1 -c{w['c']} -d{vd}s, median of {w['n']}) "
            "| req/s | p50 ms | p99 ms | CPU us/request (gunicorn) | idle MiB | req/s / naive |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        naive = vf["naive"]
        for name, r in [("web (committed settings)", vf["direct"]), ("naive (1 sync worker)", naive)] + [
            (v["name"], v) for v in variants
        ]:
            mem = f"{r['memory_idle']:.0f}" if "memory_idle" in r else ""
            cpu = r.get("cpu_us", {}).get("web", r.get("cpu_us", {}).get("naive", 0))
            vlines.append(
                f"| {name} | {fmt_rps(r)} | {r['p50']:.2f} | {r['p99']:.2f} | {cpu:,.0f} | {mem} | "
                f"{r['rps'] / naive['rps']:.2f}x |"
            )

    # targets
    targets = ["| figure | value | target | |", "| --- | --- | --- | --- |"]

    def target(name: str, value: float | None, text: str, goal: str, ok) -> None:
        if value is None:
            targets.append(f"| {name} | not measured | {goal} | |")
            return
        verdict = "" if ok is None else "met" if ok(value) else "**missed**"
        targets.append(f"| {name} | {text} | {goal} | {verdict} |")

    r = ratio(dyn, "stack", "naive")
    target("dynamic: stack / naive", r, f"{r or 0:.2f}x", ">= 1.5x", lambda v: v >= 1.5)
    r = ratio(dyn, "stack", "direct")
    cost = None if r is None else 1 - r
    target(
        "dynamic: proxy cost (1 - stack / direct)",
        cost,
        f"{round((cost or 0) * 100) or 0} %",
        "<= 15 %",
        lambda v: v <= 0.15,
    )
    for gz, gl in (("", "identity"), (" gzip", "gzip")):
        r = ratio(sta, "static-stack" + gz, "static-bare" + gz)
        target(f"static ({gl}): stack nginx / bare nginx", r, f"{r or 0:.2f}x", ">= 0.9x", lambda v: v >= 0.9)
        r = ratio(sta, "static-stack" + gz, "static-wn" + gz)
        target(f"static ({gl}): stack nginx / WhiteNoise", r, f"{r or 0:.1f}x", ">= 7x", lambda v: v >= 7)
    db = fig.get("db")
    if db is None:
        missing.append("database connections")
    per = None if db is None else db["per_1000"]
    detail = f"{num(per, '.2f')} ({db['new_connections']} in {db['requests']:,} requests)" if db else ""
    target("new PostgreSQL connections per 1,000 requests", per, detail, "<= 1", lambda v: v <= 1)
    if db is not None:
        wt = fig["workers"] * fig["threads"]
        targets.append(
            f"| peak open connections (web) vs workers x threads | {db['peak_open']} vs {wt} | (report) | |"
        )
    idle, load = fig.get("memory_idle"), fig.get("memory_load")
    for name, mem in (("idle", idle), ("under load", load)):
        if not mem or set(mem) != {"db", "web", "nginx"}:
            missing.append(f"memory {name}")
    if idle:
        total = sum(idle.values())
        per_svc = ", ".join(f"{k} {v:.0f}" for k, v in sorted(idle.items()))
        target(
            "memory idle, total (MiB)",
            total,
            f"{total:.0f} ({per_svc})",
            "<= 400 MB",
            lambda v: v * MIB <= 400e6,
        )
    if load:
        total = fig["memory_load_total"]
        per_svc = ", ".join(f"{k} {v:.0f}" for k, v in sorted(load.items()))
        targets.append(
            f"| memory under load, total (MiB) | {total:.0f} ({per_svc}) | of a 1 GB host | "
            f"{total * MIB / 1e9 * 100:.0f} % |"
        )
    image = fig.get("image_mb")
    if image is None:
        missing.append("image size")
    target("app image size", image, f"{image or 0:.0f} MB", "<= 200 MB", lambda v: v <= 200)
    cold, warm = fig.get("build_cold_s"), fig.get("build_warm_s")
    if warm is None:
        missing.append("warm build")
    if cold is None and not quick:
        missing.append("cold build")
    targets.append(
        f"| app image build, cold (--no-cache) | {f'{cold:.0f} s' if cold is not None else 'not measured'} "
        "| (report) | |"
    )
    targets.append(
        f"| app image build, warm cache | {f'{warm:.1f} s' if warm is not None else 'missing'} | (report) | |"
    )
    dep = fig.get("deploy")
    failed = set(dep.get("failed", [])) if dep else set()

    def dep_value(key: str) -> float | None:
        name = {"cold_s": "cold", "noop_s": "noop", "code_only_s": "code-only"}[key]
        return None if not dep or name in failed else dep[key]

    def dep_text(key: str, recap: str) -> str:
        if not dep:
            return ""
        return f"{dep[key]:.0f} s ({dep[recap]['changed']} changed, commit {dep['commit']})"

    target(
        "cold deploy (sandbox)",
        dep_value("cold_s"),
        dep_text("cold_s", "cold"),
        "<= 120 s",
        lambda v: v <= 120,
    )
    if dep and "noop" in failed:
        targets.append(
            f"| no-op rerun (sandbox) | failed after {dep['noop_s']:.0f} s, {dep['noop']['changed']} changed "
            "until then | <= 30 s, 0 changed | **failed** |"
        )
    else:
        target(
            "no-op rerun (sandbox)",
            dep_value("noop_s"),
            dep_text("noop_s", "noop"),
            "<= 30 s, 0 changed",
            lambda v: v <= 30 and dep["noop"]["changed"] == 0,
        )
    target(
        "code-only redeploy (sandbox)",
        dep_value("code_only_s"),
        dep_text("code_only_s", "code_only"),
        "(report)",
        None,
    )
    if failed:
        targets.append(f"| deploy steps that failed | {', '.join(sorted(failed))} | | **failed** |")
    out = "\n".join(lines) + "\n\n" + "\n".join(targets) + "\n"
    return out, "\n".join(vlines) + "\n" if vlines else "", missing


def tool_versions(fig: dict, args: argparse.Namespace) -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        res = run(cmd, check=False)
        return (res.stdout + res.stderr).strip()

    wrk_v = out(["docker", "run", "--rm", args.wrk_image, "wrk", "-v"]).splitlines()[0].split(" [")[0]
    return {
        "wrk": wrk_v.removeprefix("wrk "),
        "docker": out(["docker", "version", "--format", "{{.Server.Version}}"]),
        "nginx": out(["docker", "run", "--rm", args.nginx_image, "nginx", "-v"]).split("/")[-1],
        "gunicorn": out(["docker", "run", "--rm", args.app_image, "gunicorn", "--version"])
        .split()[-1]
        .rstrip(")"),
        "python": out(["docker", "run", "--rm", args.app_image, "python", "--version"]).split()[-1],
        "postgres": re.search(
            r"\d+\.\d+",
            out(["docker", "run", "--rm", "--entrypoint", "postgres", fig["postgres_image"], "--version"]),
        ).group(0),
    }


def machine() -> dict[str, str]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "unknown",
    )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
    }


def measure(args: argparse.Namespace) -> int:
    bench = Bench(args)
    try:
        bench.measure()
    finally:
        bench.close()
    fig = bench.figures
    fig["wrk"] = {"c": bench.connections, "d": bench.duration, "n": bench.repeat}
    fig["postgres_image"] = run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", bench.services["db"]]
    ).stdout.strip()
    fig["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig["commit"] = run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], check=False
    ).stdout.strip()
    fig["total_seconds"] = round(time.time() - args.started)
    fig["load"] = {
        "min": min(bench.loads),
        "median": statistics.median(bench.loads),
        "max": max(bench.loads),
    }
    fig["machine"] = machine()
    fig["versions"] = tool_versions(fig, args) if args.write_doc or args.figures_out else {}
    (bench.state / "figures.json").write_text(json.dumps(fig, indent=2))
    if args.figures_out:
        Path(args.figures_out).write_text(json.dumps(fig, indent=2))
    return render_report(fig, args.deploy_figures, args.write_doc, quick=args.quick)


def render_report(fig: dict, deploy_figures: str | None, write_doc: str | None, *, quick: bool) -> int:
    if deploy_figures and Path(deploy_figures).exists():
        fig["deploy"] = json.loads(Path(deploy_figures).read_text())
    tables, variants, missing = report(fig, quick)
    print(tables + "\n" + variants)
    if missing:
        log("figures: " + json.dumps(fig, indent=1))
        log("missing figures: " + "; ".join(missing))
        return 1
    if write_doc:
        from doc import render  # bench/doc.py, next to this file

        Path(write_doc).write_text(render(fig, tables, variants))
        log(f"wrote {write_doc}")
    log(f"done in {fig['total_seconds']} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-resources")
    d = sub.add_parser("deploy")
    d.add_argument("--out", required=True)
    r = sub.add_parser("render", help="docs/benchmarks.md again from saved figures (measure --figures-out)")
    r.add_argument("--figures", required=True)
    r.add_argument("--deploy-figures")
    r.add_argument("--write-doc", required=True)
    m = sub.add_parser("measure")
    for name in ("project", "state", "app-image", "python-image", "nginx-image", "wrk-image"):
        m.add_argument(f"--{name}", required=True)
    m.add_argument("--up-seconds", type=int, required=True)
    m.add_argument("--started", type=int, required=True)
    m.add_argument("--quick", action="store_true")
    m.add_argument("--deploy-figures", help="JSON written by the deploy subcommand (shown in the report)")
    m.add_argument("--write-doc")
    m.add_argument("--figures-out", help="also write the figures (JSON) here")
    args = parser.parse_args()
    if args.cmd == "free-resources":
        print(free_port(), free_port(), free_subnet())
        return 0
    if args.cmd == "deploy":
        return deploy_figures(Path(args.out))
    if args.cmd == "render":
        fig = json.loads(Path(args.figures).read_text())
        return render_report(fig, args.deploy_figures, args.write_doc, quick=False)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
