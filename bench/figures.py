"""The figures of one run: collected into a JSON-able dict, then named for the documentation.

`collect` measures; `NAMED` maps every name the pages may cite (`{name}` in bench/page.md and
bench/decisions.md) to the function that formats it from the figures. A name missing here fails the render.
"""

from __future__ import annotations

import os
import re
import statistics
import threading
import time
from collections.abc import Callable

from . import containers as c
from .containers import log, run
from .harness import ACCESS_LOG_MARK, METRICS_PORT, ROOT, Harness, Psql, logs, switch
from .load import Loader, WrkResult

# Two candidates that differ in DJANGO_METRICS alone: what the application metrics cost.
METRICS_ON, METRICS_OFF = "2x4 gthread, metrics on", "2x4 gthread, metrics off"


def candidates(access_log_default: bool) -> list[tuple[str, dict[str, str]]]:
    """gunicorn settings measured side by side: 2x4 gthread with and without gunicorn's access log, other
    worker counts and classes with the stack's default access log, and 2x4 gthread with and without the
    application metrics."""

    def gunicorn(workers: int, threads: int, **extra: str) -> dict[str, str]:
        return {"GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads), **extra}

    access_log = switch(access_log_default)

    def metrics(on: bool) -> dict[str, str]:
        metrics_env = {"DJANGO_METRICS": switch(on), "APP_METRICS_PORT": METRICS_PORT}
        return gunicorn(2, 4, GUNICORN_ACCESS_LOG=access_log, **metrics_env)

    return [
        ("2x4 gthread, access log on", gunicorn(2, 4, GUNICORN_ACCESS_LOG="true")),
        ("2x4 gthread, access log off", gunicorn(2, 4, GUNICORN_ACCESS_LOG="false")),
        ("2x2 gthread", gunicorn(2, 2, GUNICORN_ACCESS_LOG=access_log)),
        ("2 sync", gunicorn(2, 1, GUNICORN_ACCESS_LOG=access_log)),
        ("3 sync", gunicorn(3, 1, GUNICORN_ACCESS_LOG=access_log)),
        ("4 sync", gunicorn(4, 1, GUNICORN_ACCESS_LOG=access_log)),
        (METRICS_ON, metrics(True)),
        (METRICS_OFF, metrics(False)),
    ]


def on_off(on: bool) -> str:
    return "on" if on else "off"


# --- collection ---


class StackWatch:
    """Wraps each run through the stack: new PostgreSQL sessions (pg_stat_database), the peak of web's open
    connections (pg_stat_activity, every 0.2 s) and the stack's memory part-way through the run."""

    def __init__(self, h: Harness, psql: Psql, duration: int) -> None:
        self.psql, self.duration = psql, duration
        self.web_ip = c.ip(h.services["web"], h.backend)
        self.stack = {svc: h.services[svc] for svc in ("db", "web", "nginx")}
        self.new_connections = self.requests = self.peak = 0
        self.memory: dict[str, float] = {}
        self.memory_total = 0.0
        self.memory_source = "docker stats"

    def sessions(self) -> int:
        return int(
            self.psql.query("select sessions from pg_stat_database where datname = current_database()")
        )

    def web_connections(self) -> int:
        # The address comes from docker inspect, not from a client.
        sql = f"select count(*) from pg_stat_activity where client_addr = '{self.web_ip}'"  # noqa: S608
        return int(self.psql.query(sql))

    def sample_memory(self) -> None:
        mem, source = c.memory(self.stack)
        if source != "docker stats":
            self.memory_source = source
        for svc, value in mem.items():
            self.memory[svc] = max(self.memory.get(svc, 0.0), value)
        self.memory_total = max(self.memory_total, sum(mem.values()))

    def __call__(self, measure: Callable[[], WrkResult]) -> WrkResult:
        before = self.sessions()
        stop = threading.Event()
        peak = [0]

        def connections() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self.web_connections())
                stop.wait(0.2)

        def memory() -> None:
            if not stop.wait(self.duration * 0.4):
                self.sample_memory()

        threads = [threading.Thread(target=connections), threading.Thread(target=memory)]
        for th in threads:
            th.start()
        try:
            result = measure()
        finally:
            stop.set()
            for th in threads:
                th.join()
        time.sleep(0.5)  # the last backends report their session (statistics are flushed about every 1 s)
        self.new_connections += self.sessions() - before
        self.requests += result.requests
        self.peak = max(self.peak, peak[0])
        return result


def gunicorn_settings(h: Harness) -> dict[str, str]:
    """The settings web's gunicorn really runs with (its config file under the container's environment)."""
    cmd = ["docker", "exec", h.services["web"], "gunicorn", "-c", "gunicorn.conf.py", "--print-config"]
    out = run([*cmd, "config.wsgi"]).stdout
    keys = ("workers", "threads", "worker_class", "max_requests", "max_requests_jitter", "keepalive")
    found = dict(re.findall(r"^(\w+)\s+= (.*)$", out, re.M))
    return {k: found.get(k, "?") for k in keys}


def image_parts(h: Harness) -> dict[str, float]:
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
    out = run(["docker", "run", "--rm", "--entrypoint", "sh", h.app_image, "-c", script]).stdout
    mb = {k: int(v) * 1024 / 1e6 for k, v in (line.split() for line in out.splitlines())}
    return {
        "base": c.image_mb(h.python_image),
        "venv": mb["venv"],
        "pip": mb["pip"],
        "other_locales": mb["locales"] - mb["kept_locales"],
        "gis": mb["gis"],
    }


def measure_candidates(h: Harness, loader: Loader) -> dict:
    """The candidates loaded directly, interleaved with web and the naive setup (measured again here)."""
    chosen = candidates(h.access_log_default)
    targets = h.start_candidates(chosen)
    time.sleep(2)
    idle = {t.label: c.cgroup_memory(t.cpu["web"]) for t in targets}
    by_key = {t.key: t for t in h.dynamic}
    # Shorter runs (more targets): the comparison rests on CPU per request, which needs fewer requests.
    duration = max(1, round(loader.duration * 5 / 8))
    log(f"gunicorn candidates: {len(targets) + 2} targets x {loader.repeat} x {duration} s")
    got = loader.rounds([by_key["direct"], by_key["naive"], *targets], duration=duration)
    for t, (_, env) in zip(targets, chosen, strict=True):
        if (ACCESS_LOG_MARK in logs(t.cpu["web"])) != (env["GUNICORN_ACCESS_LOG"] == "true"):
            raise RuntimeError(f"gunicorn candidate {t.label}: access log lines do not match its settings")
        if "DJANGO_METRICS" in env and h.pages_counted(t.cpu["web"]) != (env["DJANGO_METRICS"] == "true"):
            raise RuntimeError(f"gunicorn candidate {t.label}: metrics port does not match DJANGO_METRICS")
    return {
        "duration": duration,
        "direct": vars(got["direct"]),
        "naive": vars(got["naive"]),
        "candidates": [
            {"name": t.label, "env": env, "memory_idle": idle[t.label], **vars(got[t.key])}
            for t, (_, env) in zip(targets, chosen, strict=True)
        ],
    }


def build_seconds(h: Harness, *, no_cache: bool) -> float:
    """Seconds of a `docker build` of the app image on the stack's base image."""
    cmd = ["docker", "build", "--quiet", "--file", str(ROOT / "docker/Dockerfile")]
    cmd += ["--build-arg", f"PYTHON_IMAGE={h.python_image}", "--build-arg", "APP_RELEASE=bench"]
    cmd += ["--tag", f"djangoapp/web:{h.project}-build", str(ROOT / "app")]
    if no_cache:
        cmd.insert(2, "--no-cache")
    started = time.monotonic()
    run(cmd, timeout=600, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    return time.monotonic() - started


def collect(h: Harness, loader: Loader, *, up_seconds: int, quick: bool) -> dict:
    """Every figure of a run (the containers of `h` already started)."""
    started = time.monotonic()
    env = c.env_of(h.services["web"])
    fig: dict = {
        "stack_up_seconds": up_seconds,
        "workers": int(env.get("GUNICORN_WORKERS", "2")),
        "threads": int(env.get("GUNICORN_THREADS", "4")),
        "access_log_default": h.access_log_default,
        "image_mb": c.image_mb(h.app_image),
        "gunicorn": gunicorn_settings(h),
        "image_parts": image_parts(h),
        "static_file": h.static_file,
    }
    psql = Psql(h.services["db"])
    try:
        time.sleep(2)
        watch = StackWatch(h, psql, loader.duration)
        fig["memory_idle"], fig["memory_source"] = c.memory(watch.stack)
        log(f"dynamic page: {len(h.dynamic)} targets x {loader.repeat} x {loader.duration} s")
        fig["dynamic"] = {k: vars(v) for k, v in loader.rounds(h.dynamic, watch={"stack": watch}).items()}
        h.check_access_logs()
    finally:
        psql.close()
    if watch.memory_source != "docker stats":
        fig["memory_source"] = watch.memory_source
    fig["memory_load"], fig["memory_load_total"] = watch.memory, watch.memory_total
    fig["db"] = {
        "new_connections": watch.new_connections,
        "requests": watch.requests,
        "per_1000": 1000 * watch.new_connections / max(watch.requests, 1),
        "peak_open": watch.peak,
    }
    log(f"static file: {len(h.static)} targets x {loader.repeat} x {loader.duration} s")
    fig["static"] = {k: vars(v) for k, v in loader.rounds(h.static).items()}
    log(f"web containers per slot: {len(h.replicas)} targets x {loader.repeat} x {loader.duration} s")
    fig["replicas"] = {k: vars(v) for k, v in loader.rounds(h.replicas).items()}
    h.check_replica_upstreams()
    fig["variants"] = measure_candidates(h, loader)
    fig["load_seconds"] = round(time.monotonic() - started)
    fig["stalls"] = loader.stalls
    if not quick:
        log("cold build of the app image (--no-cache)")
        fig["build_cold_s"] = build_seconds(h, no_cache=True)
    log("warm build of the app image")
    fig["build_warm_s"] = build_seconds(h, no_cache=False)
    return fig


# --- names ---


def ratio(group: dict, a: str, b: str) -> float | None:
    """req/s of `a` over `b` in one group of results, None when either is missing."""
    if a in group and b in group and group[b]["rps"]:
        return group[a]["rps"] / group[b]["rps"]
    return None


def server_cpu(r: dict) -> float:
    """CPU microseconds per request on the serving side (every counted container but the load generator)."""
    return sum(v for k, v in r.get("cpu_us", {}).items() if k != "wrk")


def x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def us(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def by_access_log(fig: dict, on: bool) -> dict:
    """The stack's result with gunicorn's access log on or off (the stack itself or its mirror)."""
    return fig["dynamic"]["stack" if fig["access_log_default"] == on else "mirror"]


def candidate(fig: dict, name: str) -> dict:
    return next(v for v in fig["variants"]["candidates"] if v["name"] == name)


def compared(fig: dict) -> dict[str, dict]:
    """The candidates that differ in workers and threads only (the stack's default access log)."""
    other = {f"2x4 gthread, access log {on_off(not fig['access_log_default'])}", METRICS_ON, METRICS_OFF}
    return {v["name"]: v for v in fig["variants"]["candidates"] if v["name"] not in other}


def median_cpu(fig: dict, kind: str) -> str:
    return us(statistics.median(v["cpu_us"]["web"] for n, v in compared(fig).items() if kind in n))


def ceiling(fig: dict, ncpu: int) -> float:
    """The stack/naive ratio `ncpu` CPUs allow: the naive setup is one process (at most one CPU), the stack
    and the load generator share all CPUs."""
    return ncpu * naive_cpu(fig) / stack_cpu(fig)


def stack_cpu(fig: dict) -> float:
    stack = fig["dynamic"]["stack"]
    return server_cpu(stack) + stack["cpu_us"]["wrk"]


def naive_cpu(fig: dict) -> float:
    return fig["dynamic"]["naive"]["cpu_us"]["naive"]


def recycle_interval(fig: dict) -> str:
    g, rps = fig["gunicorn"], fig["dynamic"]["stack"]["rps"]
    if g["max_requests"] in ("0", "?"):
        return "never (recycling is off)"
    return f"about every {int(g['max_requests']) * int(g['workers']) / max(rps, 1):,.0f} s"


def deploy(fig: dict, key: str, spec: str = ".0f") -> str:
    dep = fig.get("deploy") or {}
    return "n/a" if key not in dep else format(dep[key], spec)


def noop_tasks(fig: dict) -> str:
    roles = ((fig.get("deploy") or {}).get("roles") or {}).get("noop") or {}
    return str(sum(entry[1] for entry in roles.values())) if roles else "n/a"


def least_cpu(fig: dict) -> str:
    cpu = {n: v["cpu_us"]["web"] for n, v in compared(fig).items()}
    best = min(cpu, key=cpu.get)
    return f"{best} ({us(cpu[best])} us)"


def most_rps(fig: dict) -> str:
    cands = compared(fig)
    best = max(cands, key=lambda n: cands[n]["rps"])
    return f"{best} ({cands[best]['rps']:,.0f} req/s)"


def access_log_share(fig: dict) -> str:
    on = candidate(fig, "2x4 gthread, access log on")["cpu_us"]["web"]
    off = candidate(fig, "2x4 gthread, access log off")["cpu_us"]["web"]
    return pct((on - off) / on)


def metrics_cost(fig: dict) -> float:
    """Extra gunicorn CPU per request with the application metrics, relative to the same settings without."""
    on = candidate(fig, METRICS_ON)["cpu_us"]["web"]
    off = candidate(fig, METRICS_OFF)["cpu_us"]["web"]
    return (on - off) / off


Named = Callable[[dict], str]
NAMED: dict[str, Named] = {
    # the run
    "date": lambda f: f["date"],
    "commit": lambda f: f.get("commit", "?"),
    "total_seconds": lambda f: str(f["total_seconds"]),
    "stack_up_seconds": lambda f: str(f["stack_up_seconds"]),
    "nproc": lambda f: f["machine"]["nproc"],
    "cpu": lambda f: f["machine"]["cpu"],
    "memory": lambda f: f["machine"]["memory"],
    "kernel": lambda f: f["machine"]["kernel"],
    "load_min": lambda f: f"{f['load']['min']:.1f}",
    "load_median": lambda f: f"{f['load']['median']:.1f}",
    "load_max": lambda f: f"{f['load']['max']:.1f}",
    "tools": lambda f: ", ".join(f"{k} {v}" for k, v in f["versions"].items()) or "not recorded",
    "wrk_connections": lambda f: str(f["wrk"]["c"]),
    "wrk_duration": lambda f: str(f["wrk"]["d"]),
    "wrk_repeat": lambda f: str(f["wrk"]["n"]),
    "candidates_duration": lambda f: str(f["variants"]["duration"]),
    "css_path": lambda f: f["static_file"]["path"],
    "css_bytes": lambda f: f"{f['static_file']['bytes']:,}",
    "css_gzip_bytes": lambda f: f"{f['static_file']['gzip_bytes']:,}",
    # gunicorn in web
    "gunicorn_workers": lambda f: f["gunicorn"]["workers"],
    "gunicorn_threads": lambda f: f["gunicorn"]["threads"],
    "gunicorn_worker_class": lambda f: f["gunicorn"]["worker_class"],
    "gunicorn_max_requests": lambda f: f["gunicorn"]["max_requests"],
    "gunicorn_max_requests_jitter": lambda f: f["gunicorn"]["max_requests_jitter"],
    "gunicorn_keepalive": lambda f: f["gunicorn"]["keepalive"],
    "gunicorn_committed": lambda f: "{workers}x{threads} {worker_class}".format(**f["gunicorn"]),
    "access_log_default": lambda f: on_off(f["access_log_default"]),
    # the dynamic page
    "dynamic_ratio": lambda f: x(ratio(f["dynamic"], "stack", "naive")),
    "dynamic_verdict": lambda f: (
        "met" if (ratio(f["dynamic"], "stack", "naive") or 0) >= 1.5 else "**missed**"
    ),
    "dynamic_ratio_log_on": lambda f: x(by_access_log(f, True)["rps"] / f["dynamic"]["naive"]["rps"]),
    "dynamic_ratio_log_off": lambda f: x(by_access_log(f, False)["rps"] / f["dynamic"]["naive"]["rps"]),
    "stack_cpu_us": lambda f: us(stack_cpu(f)),
    "naive_cpu_us": lambda f: us(naive_cpu(f)),
    "dynamic_ceiling": lambda f: x(ceiling(f, int(f["machine"]["nproc"]))),
    "dynamic_ceiling_4cpu": lambda f: x(ceiling(f, 4), 1),
    "stack_rps": lambda f: f"{f['dynamic']['stack']['rps']:,.0f}",
    "stack_server_cpu_us": lambda f: us(server_cpu(f["dynamic"]["stack"])),
    "proxy_ratio": lambda f: x(ratio(f["dynamic"], "stack", "direct")),
    "proxy_cost": lambda f: pct(1 - (ratio(f["dynamic"], "stack", "direct") or 1)),
    "proxy_nginx_cpu_us": lambda f: us(f["dynamic"]["stack"]["cpu_us"]["nginx"]),
    "proxy_nginx_share": lambda f: pct(
        f["dynamic"]["stack"]["cpu_us"]["nginx"] / server_cpu(f["dynamic"]["stack"])
    ),
    # gunicorn candidates
    "candidate_count": lambda f: str(len(compared(f))),
    "most_rps_candidate": most_rps,
    "least_cpu_candidate": least_cpu,
    "gthread_cpu_us": lambda f: median_cpu(f, "gthread"),
    "sync_cpu_us": lambda f: median_cpu(f, "sync"),
    "access_log_cpu_on": lambda f: us(candidate(f, "2x4 gthread, access log on")["cpu_us"]["web"]),
    "access_log_cpu_off": lambda f: us(candidate(f, "2x4 gthread, access log off")["cpu_us"]["web"]),
    "access_log_cpu_share": access_log_share,
    # application metrics (DJANGO_METRICS), the same gunicorn settings either way
    "metrics_cpu_on": lambda f: us(candidate(f, METRICS_ON)["cpu_us"]["web"]),
    "metrics_cpu_off": lambda f: us(candidate(f, METRICS_OFF)["cpu_us"]["web"]),
    "metrics_cost": lambda f: pct(metrics_cost(f)),
    "metrics_rps_ratio": lambda f: x(candidate(f, METRICS_ON)["rps"] / candidate(f, METRICS_OFF)["rps"]),
    # recycling and database connections
    "recycle_interval": recycle_interval,
    "stalls": lambda f: ", ".join(f["stalls"]) or "none",
    "db_new_per_1000": lambda f: f"{f['db']['per_1000']:.2f}",
    "db_peak_open": lambda f: str(f["db"]["peak_open"]),
    "db_pool_bound": lambda f: f"{f['workers']} x {f['threads']} = {f['workers'] * f['threads']}",
    # static files
    "static_nginx_cpu_us": lambda f: us(f["static"]["static-stack"]["cpu_us"]["nginx"], 1),
    "static_bare_cpu_us": lambda f: us(f["static"]["static-bare"]["cpu_us"]["bare"], 1),
    "static_bare_ratio": lambda f: x(ratio(f["static"], "static-stack", "static-bare")),
    "static_bare_ratio_gzip": lambda f: x(ratio(f["static"], "static-stack gzip", "static-bare gzip")),
    # web containers per release slot (one host)
    "replicas_rps_1": lambda f: f"{f['replicas']['web-x1']['rps']:,.0f}",
    "replicas_rps_2": lambda f: f"{f['replicas']['web-x2']['rps']:,.0f}",
    "replicas_ratio": lambda f: x(ratio(f["replicas"], "web-x2", "web-x1")),
    "replicas_cpu_1": lambda f: us(server_cpu(f["replicas"]["web-x1"])),
    "replicas_cpu_2": lambda f: us(server_cpu(f["replicas"]["web-x2"])),
    # memory and image
    "memory_idle_total": lambda f: f"{sum(f['memory_idle'].values()):.0f}",
    "memory_load_total": lambda f: f"{f['memory_load_total']:.0f}",
    "memory_source": lambda f: f["memory_source"],
    "image_mb": lambda f: f"{f['image_mb']:.0f}",
    "image_base_mb": lambda f: f"{f['image_parts']['base']:.0f}",
    "image_app_mb": lambda f: f"{f['image_mb'] - f['image_parts']['base']:.0f}",
    "image_venv_mb": lambda f: f"{f['image_parts']['venv']:.0f}",
    # the sandbox deploy (bench/deploy.json)
    "deploy_noop_s": lambda f: deploy(f, "noop_s"),
    "deploy_noop_linear_s": lambda f: deploy(f, "noop_linear_s"),
    "deploy_noop_tasks": noop_tasks,
}


def named(fig: dict) -> dict[str, str]:
    """Every named figure, formatted."""
    return {name: fn(fig) for name, fn in NAMED.items()}
