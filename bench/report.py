"""Rendering: the tables of a run, the missing-figure check, and docs/benchmarks.md.

The page's text is hand-written Markdown (bench/page.md, bench/decisions.md). A `{name}` there is either a
generated block (BLOCKS: the tables) or a named figure (figures.NAMED); `{{` and `}}` are literal braces.
Citing a name that is neither fails the render.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from .containers import MIB
from .figures import (
    METRICS_OFF,
    METRICS_ON,
    NAMED,
    candidates,
    metrics_cost,
    named,
    on_off,
    ratio,
    server_cpu,
)

HERE = Path(__file__).resolve().parent
PAGE, DECISIONS = HERE / "page.md", HERE / "decisions.md"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z][a-z0-9_]*)\}")


class UnknownFigure(ValueError):
    pass


def num(value: float | None, spec: str) -> str:
    """`value` formatted, or n/a when it could not be computed."""
    return "n/a" if value is None else format(value, spec)


def cpu_text(r: dict) -> str:
    parts = " + ".join(f"{k} {v:,.0f}" for k, v in r.get("cpu_us", {}).items() if k != "wrk")
    return f"{server_cpu(r):,.0f} ({parts})" if "+" in parts else f"{server_cpu(r):,.1f}"


def row(label: str, r: dict | None, rat: str = "") -> str:
    if r is None:
        return f"| {label} | missing | | | | |"
    return f"| {label} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {cpu_text(r)} | {rat} |"


# --- checks ---

DYNAMIC_KEYS = ("stack", "mirror", "direct", "naive")
REPLICA_KEYS = ("web-x1", "web-x2")
STATIC_KEYS = tuple(f"static-{w}{g}" for g in ("", " gzip") for w in ("stack", "wn", "bare"))


def missing(fig: dict, quick: bool) -> list[str]:
    """Every figure a run must produce and did not (or produced from failed requests)."""
    out = []
    variants = {v["name"]: v for v in (fig.get("variants") or {}).get("candidates") or []}
    names = [name for name, _ in candidates(fig.get("access_log_default", True))]
    for group, keys in (
        (fig.get("dynamic", {}), DYNAMIC_KEYS),
        (fig.get("static", {}), STATIC_KEYS),
        (fig.get("replicas", {}), REPLICA_KEYS),
        (variants, names),
    ):
        for key in keys:
            r = group.get(key)
            if r is None or r["requests"] == 0:
                out.append(f"wrk {key}")
            elif r["errors"]:
                out.append(f"wrk {key} ({r['errors']} errors or non-2xx responses)")
            elif not r.get("cpu_us"):
                out.append(f"CPU per request {key}")
    if fig.get("db") is None:
        out.append("database connections")
    for name, key in (("idle", "memory_idle"), ("under load", "memory_load")):
        if set(fig.get(key) or {}) != {"db", "web", "nginx"}:
            out.append(f"memory {name}")
    for key, label in (("image_mb", "image size"), ("build_warm_s", "warm build")):
        if fig.get(key) is None:
            out.append(label)
    if fig.get("build_cold_s") is None and not quick:
        out.append("cold build")
    return out


# --- tables ---


def results_table(fig: dict) -> str:
    w, g, dyn, sta = fig["wrk"], fig.get("gunicorn", {}), fig.get("dynamic", {}), fig.get("static", {})
    default, other = on_off(fig["access_log_default"]), on_off(not fig["access_log_default"])
    lines = [
        f"| load (wrk -t1 -c{w['c']} -d{w['d']}s, median of {w['n']}) | req/s | p50 ms | p99 ms "
        "| server CPU us/request | ratio (req/s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        row(
            f"`/` through the stack (nginx HTTPS -> gunicorn {fig['workers']}x{fig['threads']} "
            f"{g.get('worker_class', '')}, gunicorn access log {default}: the default)",
            dyn.get("stack"),
            f"{num(ratio(dyn, 'stack', 'naive'), '.2f')}x naive, "
            f"{num(ratio(dyn, 'stack', 'direct'), '.2f')}x direct",
        ),
        row(
            f"`/` through the same stack, gunicorn access log {other}",
            dyn.get("mirror"),
            f"{num(ratio(dyn, 'mirror', 'naive'), '.2f')}x naive",
        ),
        row(
            "`/` direct to gunicorn (same web container)",
            dyn.get("direct"),
            f"{num(ratio(dyn, 'direct', 'naive'), '.2f')}x naive",
        ),
        row("`/` naive `gunicorn config.wsgi` (1 sync worker)", dyn.get("naive")),
    ]
    labels = {
        "stack": "CSS through the stack's nginx",
        "wn": "CSS through WhiteNoise in gunicorn",
        "bare": "CSS through a bare nginx",
    }
    for gz in ("", " gzip"):
        for who, label in labels.items():
            key = f"static-{who}{gz}"
            rat = ""
            if who == "stack":
                rat = (
                    f"{num(ratio(sta, key, 'static-bare' + gz), '.2f')}x bare, "
                    f"{num(ratio(sta, key, 'static-wn' + gz), '.1f')}x WhiteNoise"
                )
            lines.append(row(f"{label} ({'Accept-Encoding: gzip' if gz else 'identity'})", sta.get(key), rat))
    return "\n".join(lines) + "\n"


def replicas_table(fig: dict) -> str:
    w, rep = fig["wrk"], fig.get("replicas", {})
    lines = [
        f"| `/` (wrk -t1 -c{w['c']} -d{w['d']}s, median of {w['n']}) | req/s | p50 ms | p99 ms "
        "| server CPU us/request | ratio (req/s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        row("nginx (HTTPS) -> 1 web container (the first socket only)", rep.get("web-x1")),
        row(
            "nginx (HTTPS) -> 2 web containers (both sockets)",
            rep.get("web-x2"),
            f"{num(ratio(rep, 'web-x2', 'web-x1'), '.2f')}x one container",
        ),
    ]
    return "\n".join(lines) + "\n"


def candidates_table(fig: dict) -> str:
    vf, w = fig.get("variants"), fig["wrk"]
    if not vf:
        return "Not measured.\n"
    lines = [
        f"| `/` direct, side by side (wrk -t1 -c{w['c']} -d{vf['duration']}s, median of {w['n']}) "
        "| req/s | p50 ms | p99 ms | CPU us/request (gunicorn) | idle MiB | req/s / naive |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    naive = vf["naive"]
    web = f"web (committed settings, access log {on_off(fig['access_log_default'])})"
    for name, r in [(web, vf["direct"]), ("naive (1 sync worker)", naive)] + [
        (v["name"], v) for v in vf["candidates"]
    ]:
        mem = f"{r['memory_idle']:.0f}" if "memory_idle" in r else ""
        cpu = r["cpu_us"].get("web", r["cpu_us"].get("naive", 0))
        lines.append(
            f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {cpu:,.0f} | {mem} | "
            f"{r['rps'] / naive['rps']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


class Targets:
    """The targets table: a figure, its value, the goal, met or **missed** (or a report-only row)."""

    def __init__(self) -> None:
        self.lines = ["| figure | value | target | |", "| --- | --- | --- | --- |"]

    def add(self, name: str, value: float | None, text: str, goal: str, ok: Callable | None) -> None:
        if value is None:
            self.lines.append(f"| {name} | not measured | {goal} | |")
            return
        verdict = "" if ok is None else "met" if ok(value) else "**missed**"
        self.lines.append(f"| {name} | {text} | {goal} | {verdict} |")

    def report(self, name: str, text: str, note: str = "(report)", last: str = "") -> None:
        self.lines.append(f"| {name} | {text} | {note} | {last} |")


def targets_table(fig: dict) -> str:
    t, dyn, sta = Targets(), fig.get("dynamic", {}), fig.get("static", {})
    default = on_off(fig["access_log_default"])
    r = ratio(dyn, "stack", "naive")
    t.add(
        f"dynamic: stack / naive (gunicorn access log {default}: the default)",
        r,
        num(r, ".2f") + "x",
        ">= 1.5x",
        lambda v: v >= 1.5,
    )
    r = ratio(dyn, "mirror", "naive")
    other = on_off(not fig["access_log_default"])
    t.add(
        f"dynamic: stack / naive, gunicorn access log {other}",
        r,
        num(r, ".2f") + "x",
        ">= 1.5x",
        lambda v: v >= 1.5,
    )
    r = ratio(dyn, "stack", "direct")
    cost = None if r is None else 1 - r
    t.add(
        "dynamic: proxy cost (1 - stack / direct)",
        cost,
        f"{round((cost or 0) * 100)} %",
        "<= 15 %",
        lambda v: v <= 0.15,
    )
    for gz, gl in (("", "identity"), (" gzip", "gzip")):
        r = ratio(sta, "static-stack" + gz, "static-bare" + gz)
        t.add(
            f"static ({gl}): stack nginx / bare nginx", r, num(r, ".2f") + "x", ">= 0.9x", lambda v: v >= 0.9
        )
        r = ratio(sta, "static-stack" + gz, "static-wn" + gz)
        t.add(f"static ({gl}): stack nginx / WhiteNoise", r, num(r, ".1f") + "x", ">= 7x", lambda v: v >= 7)
    db = fig.get("db")
    detail = f"{db['per_1000']:.2f} ({db['new_connections']} in {db['requests']:,} requests)" if db else ""
    t.add(
        "new PostgreSQL connections per 1,000 requests",
        db and db["per_1000"],
        detail,
        "<= 1",
        lambda v: v <= 1,
    )
    if db:
        t.report(
            "peak open connections (web) vs workers x threads",
            f"{db['peak_open']} vs {fig['workers'] * fig['threads']}",
        )
    if idle := fig.get("memory_idle"):
        total = sum(idle.values())
        per_svc = ", ".join(f"{k} {v:.0f}" for k, v in sorted(idle.items()))
        t.add(
            "memory idle, total (MiB)",
            total,
            f"{total:.0f} ({per_svc})",
            "<= 400 MB",
            lambda v: v * MIB <= 400e6,
        )
    if load := fig.get("memory_load"):
        total = fig["memory_load_total"]
        per_svc = ", ".join(f"{k} {v:.0f}" for k, v in sorted(load.items()))
        t.report(
            "memory under load, total (MiB)",
            f"{total:.0f} ({per_svc})",
            "of a 1 GB host",
            f"{total * MIB / 1e9 * 100:.0f} %",
        )
    names = {v["name"] for v in (fig.get("variants") or {}).get("candidates") or []}
    if {METRICS_ON, METRICS_OFF} <= names:
        t.report(
            "metrics cost: gunicorn CPU per request, DJANGO_METRICS on vs off (2x4 gthread)",
            f"{metrics_cost(fig) * 100:+.0f} %",
        )
    image = fig.get("image_mb")
    t.add("app image size", image, f"{image or 0:.0f} MB", "<= 200 MB", lambda v: v <= 200)
    cold, warm = fig.get("build_cold_s"), fig.get("build_warm_s")
    t.report("app image build, cold (--no-cache)", f"{cold:.0f} s" if cold is not None else "not measured")
    t.report("app image build, warm cache", f"{warm:.1f} s" if warm is not None else "missing")
    deploy_targets(t, fig.get("deploy"))
    return "\n".join(t.lines) + "\n"


def deploy_targets(t: Targets, dep: dict | None) -> None:
    failed = set(dep.get("failed", [])) if dep else set()

    def value(key: str, step: str) -> float | None:
        return None if not dep or step in failed else dep[key]

    def text(key: str, recap: str) -> str:
        return f"{dep[key]:.0f} s ({dep[recap]['changed']} changed, commit {dep['commit']})" if dep else ""

    t.add(
        "cold deploy (sandbox)",
        value("cold_s", "cold"),
        text("cold_s", "cold"),
        "<= 120 s",
        lambda v: v <= 120,
    )
    if dep and "noop" in failed:
        t.report(
            "no-op rerun (sandbox)",
            f"failed after {dep['noop_s']:.0f} s, {dep['noop']['changed']} changed until then",
            "<= 30 s, 0 changed",
            "**failed**",
        )
    else:
        ok = lambda v: v <= 30 and dep["noop"]["changed"] == 0  # noqa: E731
        t.add(
            "no-op rerun (sandbox)", value("noop_s", "noop"), text("noop_s", "noop"), "<= 30 s, 0 changed", ok
        )
    t.add(
        "code-only redeploy (sandbox)",
        value("code_only_s", "code-only"),
        text("code_only_s", "code_only"),
        "(report)",
        None,
    )
    if failed:
        t.report("deploy steps that failed", ", ".join(sorted(failed)), "", "**failed**")


DEPLOY_STEPS = (
    ("cold_s", "cold", "cold", "cold deploy (`scripts/deploy.sh sandbox`, fixed release label)"),
    ("noop_s", "noop", "noop", "no-op rerun (same command)"),
    (
        "noop_linear_s",
        "noop_linear",
        "noop-linear",
        "no-op rerun without Mitogen (`ANSIBLE_STRATEGY=linear`)",
    ),
    ("code_only_s", "code_only", "code-only", "code-only redeploy (`--app-only`, new release label)"),
)


def deploy_tables(fig: dict) -> str:
    dep = fig.get("deploy")
    if not dep:
        return (
            "Not measured yet: `make bench BENCH_DEPLOY=1` (or `bench/run.sh --deploy-only`) writes "
            "bench/deploy.json, which every later run shows here.\n"
        )
    failed = dep.get("failed") or []
    lines = [
        f"Measured {dep['date']} at commit {dep['commit']} by `bench/run.sh --deploy` (bench/deploy.json), "
        f"load average {dep['load_before']:.1f} before and {dep['load_after']:.1f} after: the sandbox host "
        f"destroyed and created again ({dep['host_create_s']:.0f} s, not counted), then",
        "",
        "| step | seconds | recap |",
        "| --- | ---: | --- |",
    ]
    for key, recap, step, label in DEPLOY_STEPS:
        if recap in dep:  # steps added later are absent from older measurements
            r = dep[recap]
            state = " **failed**" if step in failed else ""
            lines.append(f"| {label} | {dep[key]:.0f} | ok={r['ok']} changed={r['changed']}{state} |")
    roles = dep.get("roles") or {}
    if roles:
        names = sorted(
            {r for step in roles.values() for r in step},
            key=lambda r: -roles.get("noop", {}).get(r, [0, 0])[0],
        )
        lines += [
            "",
            "Seconds (tasks run) per role, from `profile_tasks` (on by default in ansible.cfg):",
            "",
        ]
        lines += ["| step | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
        for _, _, step, _ in DEPLOY_STEPS:
            if step in roles:
                cells = (roles[step].get(r) for r in names)
                label = {"noop": "no-op rerun", "noop-linear": "no-op, linear"}.get(step, step)
                lines.append(
                    f"| {label} | " + " | ".join(f"{c[0]:.0f} ({c[1]})" if c else "" for c in cells) + " |"
                )
    if slow := (dep.get("slowest") or {}).get("noop"):
        lines += ["", "Slowest tasks of the rerun: " + "; ".join(f"{t} {sec:.1f} s" for t, sec in slow) + "."]
    if failed:
        lines += [
            "",
            f"In this measurement {', '.join(failed)} failed: the step's figure is the time to the failure "
            "(its log is kept, see `logs` in bench/deploy.json).",
        ]
    return "\n".join(lines) + "\n"


# Figures of the Molecule scenario `swarm` (molecule/swarm/tests write build/swarm-metrics.json; a run's copy
# with its date and commit is kept here).
SWARM_FIGURES = Path(__file__).with_name("swarm.json")
SWARM_LOADS = (
    ("rolling_update", "rolling update to a new release, 3 replicas", "rolling_update_seconds"),
    ("reschedule", "a worker host stopped, its replicas rescheduled", "reschedule_seconds"),
)

# Operations watched by one keep-alive connection (a GET of / every 50 ms), not under the full load.
SWARM_WATCHED = (
    ("rolled_back_update", "update whose new replicas fail their healthcheck (Swarm rolls back)"),
    ("rollback", "`rollback.yml` to the previous release, 3 replicas"),
)


def swarm_tables(_fig: dict) -> str:
    if not SWARM_FIGURES.exists():
        return (
            "Not measured yet: `molecule test -s swarm` writes build/swarm-metrics.json; "
            "copy it to bench/swarm.json.\n"
        )
    sw = json.loads(SWARM_FIGURES.read_text())
    lines = [
        f"Measured {sw['date']} at commit {sw['commit']} by `molecule test -s swarm` (bench/swarm.json): "
        "three systemd host containers on this machine, keep-alive clients through the edge node for the "
        "whole operation (wrk: GETs of `/`, POSTs; h2load: GETs of `/` and `/healthz`).",
        "",
        "| operation | seconds | requests | failed (errors + non-2xx) | wrk GET p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label, seconds_key in SWARM_LOADS:
        clients = sw.get(f"{key}_clients")
        if not clients:
            continue
        seconds = sw.get(seconds_key or f"{key}_seconds")
        requests = sum(c["requests"] for c in clients.values())
        failed = sum(c["connection_errors"] + c["non_2xx"] for c in clients.values())
        p99 = clients.get("wrk-get", {}).get("p99_ms")
        lines.append(
            f"| {label} | {seconds:.0f} | {requests:,} | {failed} | {p99:.0f} |"
            if seconds is not None and p99 is not None
            else f"| {label} | | {requests:,} | {failed} | |"
        )
    watched = [(key, label) for key, label in SWARM_WATCHED if f"{key}_answers" in sw]
    if watched:
        lines += [
            "",
            "Watched by one keep-alive connection through the edge (a GET of `/` every 50 ms):",
            "",
            "| operation | seconds | requests | failed |",
            "| --- | ---: | ---: | ---: |",
        ]
        for key, label in watched:
            answers = sw[f"{key}_answers"]
            lines.append(
                f"| {label} | {sw[f'{key}_seconds']:.0f} | {answers['requests']:,} | {answers['failed']} |"
            )
    if "restore_seconds" in sw:
        lines += [
            "",
            "`restore.yml` on the database node, maintenance mode on the edge meanwhile: "
            f"{sw['restore_seconds']:.0f} s.",
        ]
    if "cold_converge_s" in sw:
        lines += [
            "",
            f"Cold `site.yml` on the three fresh hosts: {sw['cold_converge_s']:.0f} s; the rerun "
            f"(0 changed): {sw['idempotence_s']:.0f} s (the scenario's converge and idempotence steps).",
        ]
    return "\n".join(lines) + "\n"


# --- the page ---

BLOCKS: dict[str, Callable[[dict], str]] = {
    "results_table": results_table,
    "targets_table": targets_table,
    "candidates_table": candidates_table,
    "replicas_table": replicas_table,
    "deploy_tables": deploy_tables,
    "swarm_tables": swarm_tables,
}


def cited(text: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)]


def substitute(text: str, values: dict[str, str], source: str) -> str:
    unknown = sorted(set(cited(text)) - set(values))
    if unknown:
        raise UnknownFigure(f"{source} cites figures that do not exist: {', '.join(unknown)}")

    def one(m: re.Match) -> str:
        return values[m.group(1)] if m.group(1) else m.group(0)[0]

    return _PLACEHOLDER.sub(one, text)


def check_citations() -> None:
    """Fails when the hand-written pages cite a name that is neither a block nor a named figure."""
    known = {*BLOCKS, *NAMED, "decisions"}
    for path in (PAGE, DECISIONS):
        unknown = sorted(set(cited(path.read_text())) - known)
        if unknown:
            raise UnknownFigure(f"{path.name} cites figures that do not exist: {', '.join(unknown)}")


def render_page(fig: dict) -> str:
    """docs/benchmarks.md from the figures of a run."""
    check_citations()
    values = named(fig)
    values.update({name: block(fig) for name, block in BLOCKS.items()})
    values["decisions"] = substitute(DECISIONS.read_text(), values, DECISIONS.name)
    return substitute(PAGE.read_text(), values, PAGE.name)
