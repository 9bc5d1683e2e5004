"""docs/benchmarks.md from the figures of one full `make bench` run (bench/bench.py calls render).

Figures measured before a tuning was applied (the "before" of before/after) come from earlier runs of the same
harness and are quoted with the commit they were measured at; everything else is this run's.
"""

from __future__ import annotations

import statistics

# Before/after of the tunings of this round, measured side by side with the harness of this directory
# (bench/run.sh or its containers by hand) on the reference machine; the "after" is repeated by every run.
BEFORE = {
    "image_mb": (224, "1a7c7c6"),
    "static_cpu": (20.4, 16.6, 18.5),  # us per CSS request: stack nginx before, after, bare nginx (0ef5efd)
    "noop_to_failure": (119, 80),  # s, sandbox rerun to the same task, without and with pipelining
    # s, `scripts/deploy.sh sandbox --tags docker` rerun (the docker role and the plays' checks), median of
    # DOCKER_ROLE_RUNS alternating runs from clones of the commits before and after the change (dd95a9f)
    "docker_role_noop": (31.2, 26.2),
    # s, `scripts/deploy.sh` on the sandbox, quiet machine (load < 1.5), at 594c4ae and at 60707d4 (Mitogen,
    # checks once, apt skip in base, database early only for a release, fact subset): cold, no-op rerun
    "deploy_mitogen": ((209, 67), (113, 25)),
}
DOCKER_ROLE_RUNS = 3
NO_ACCESS_LOG = "2x4 gthread, no access log"


def _ratio(group: dict, a: str, b: str) -> float | None:
    if a in group and b in group and group[b]["rps"]:
        return group[a]["rps"] / group[b]["rps"]
    return None


def _server(r: dict) -> float:
    return sum(v for k, v in r.get("cpu_us", {}).items() if k != "wrk")


def _x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def _ceiling(fig: dict) -> tuple[float, float, float]:
    """The stack/naive ratio the CPUs allow: the naive setup is one process (at most one CPU), the stack and
    the load generator share all CPUs. Returns (ceiling, stack us/request incl. wrk, naive us/request)."""
    dyn = fig["dynamic"]
    ncpu = int(fig["machine"]["nproc"])
    stack = _server(dyn["stack"]) + dyn["stack"]["cpu_us"]["wrk"]
    naive = dyn["naive"]["cpu_us"]["naive"]
    return ncpu * naive / stack, stack, naive


def _gunicorn(fig: dict) -> str:
    v = fig["variants"]
    every = {c["name"]: c for c in v["candidates"]}
    cands = {n: c for n, c in every.items() if n != NO_ACCESS_LOG}
    g = fig["gunicorn"]
    committed = f"{g['workers']}x{g['threads']} {g['worker_class']}"
    cpu = {n: c["cpu_us"]["web"] for n, c in cands.items()}
    best_cpu = min(cpu, key=cpu.get)
    best_rps = max(cands, key=lambda n: cands[n]["rps"])
    sync = [n for n in cands if "sync" in n]
    threaded = [n for n in cands if "gthread" in n]
    sync_cpu = statistics.median(cpu[n] for n in sync)
    gthread_cpu = statistics.median(cpu[n] for n in threaded)
    ceiling, stack_us, naive_us = _ceiling(fig)
    ncpu = fig["machine"]["nproc"]
    text = (
        f"1. **Worker class and threads: {committed}, kept.** {len(cands)} worker settings ran side by side "
        "(same image, same database, loaded directly like web, interleaved with the naive setup; table "
        f"above). req/s is the noisy figure on a shared machine (load average {fig['load']['min']:.1f} to "
        f"{fig['load']['max']:.1f} during this run): most req/s here {best_rps}, "
        f"{cands[best_rps]['rps']:,.0f}. CPU time per request, read from each container's cgroup, does "
        f"not depend on what else runs: least CPU per request {best_cpu} ({cpu[best_cpu]:,.0f} us); the "
        f"gthread candidates {gthread_cpu:,.0f} us (median), the sync ones {sync_cpu:,.0f} us. Sync workers "
        "cost more per request because they do not keep connections alive (every request a new TCP "
        "connection, from wrk here and from nginx in the stack, whose upstream keepalive they defeat) and "
        "more processes on 2 CPUs add switches; nginx already buffers slow clients, so the sync worker's "
        "weakness is not the argument, its missing keepalive is. gthread 2x4 also bounds a slow query or "
        "upstream call to one thread, and adds no process (memory: each candidate's idle MiB in the table)."
    )
    if best_cpu != "2x4 gthread" and "gthread" in best_cpu and cpu[best_cpu] > 0.9 * cpu["2x4 gthread"]:
        text += (
            f" {best_cpu} and 2x4 gthread are within 10 % of each other ({cpu[best_cpu]:,.0f} and "
            f"{cpu['2x4 gthread']:,.0f} us), inside the run-to-run noise; 2x4 keeps more requests in flight "
            "while some wait on the database, for the same memory."
        )
    with_log, without = every["2x4 gthread"]["cpu_us"]["web"], every[NO_ACCESS_LOG]["cpu_us"]["web"]
    stack_naive = _ratio(fig["dynamic"], "stack", "naive")
    text += (
        f" The >= 1.5x target (this run: {_x(stack_naive)}) "
        + (
            "is met."
            if (stack_naive or 0) >= 1.5
            else "is **missed**, and cannot be met reliably on this machine:"
        )
        + f" the page costs the stack {stack_us:,.0f} us of CPU per request (nginx, gunicorn, PostgreSQL and "
        f"wrk, all on {ncpu} CPUs) and the naive worker {naive_us:,.0f} us on at most one CPU, so with every "
        f"CPU busy the stack can reach at most {ncpu} x {naive_us:,.0f} / {stack_us:,.0f} = "
        f"{ceiling:.2f}x the naive req/s, and less while other jobs share the CPUs. With 4 CPUs the same "
        f"costs allow {4 * naive_us / stack_us:.1f}x. What would lower the stack's cost: gunicorn's access "
        "log line (through the redaction filter; the naive setup writes none, and nginx logs the request "
        f"too): {with_log:,.0f} us per request with it, {without:,.0f} us without "
        f"(`GUNICORN_ACCESS_LOG=false`), {(with_log - without) / with_log * 100:.0f} % of gunicorn's CPU. "
        "It is a switch, not the default (Compose: `GUNICORN_ACCESS_LOG`, Ansible: "
        "`stack_gunicorn_access_log`): gunicorn's line is the per-slot record of which release answered a "
        "request, which the release checks read, and the gain does not reach the target either."
    )
    return text


def _decisions(fig: dict) -> str:
    g = fig["gunicorn"]
    dyn, sta, db = fig["dynamic"], fig["static"], fig["db"]
    parts = fig["image_parts"]
    proxy = _ratio(dyn, "stack", "direct")
    nginx_us = dyn["stack"]["cpu_us"]["nginx"]
    bare = _ratio(sta, "static-stack", "static-bare")
    bare_gz = _ratio(sta, "static-stack gzip", "static-bare gzip")
    cpu_stack, cpu_bare = sta["static-stack"]["cpu_us"]["nginx"], sta["static-bare"]["cpu_us"]["bare"]
    recycling = g["max_requests"] not in ("0", "?")
    before_img, img_commit = BEFORE["image_mb"]
    sb, sa, sbare = BEFORE["static_cpu"]
    nb, na = BEFORE["noop_to_failure"]
    out = [_gunicorn(fig)]
    out.append(
        "2. **Proxy: HTTP/1.1 keepalive to gunicorn (`keepalive 16` in the upstream, `proxy_http_version "
        "1.1` and an empty `Connection` header in proxy.conf), client keepalive 65 s.** req/s through the "
        f"stack are {_x(proxy)} of direct gunicorn (proxy cost "
        f"{'n/a' if proxy is None else f'{(1 - proxy) * 100:.0f} %'}), although the stack adds TLS (its "
        "only scheme) and a second hop. That ratio swings from run to run on a shared machine; the CPU "
        f"figures do not: nginx spends {nginx_us:,.0f} us per `/` request, "
        f"{nginx_us / _server(dyn['stack']) * 100:.0f} % of the stack's server-side CPU "
        f"({_server(dyn['stack']):,.0f} us), so on a machine where the CPUs are not shared with other jobs "
        "the proxy costs about that share."
    )
    recycle = (
        f"3. **Worker recycling (`max_requests` {g['max_requests']}, jitter {g['max_requests_jitter']}).** "
        f"At this run's {dyn['stack']['rps']:,.0f} req/s a worker is replaced about every "
        f"{int(g['max_requests']) * int(g['workers']) / max(dyn['stack']['rps'], 1):,.0f} s; each "
        "replacement opens a new pool (new PostgreSQL connections: "
        f"{db['per_1000']:.2f} per 1,000 requests) and can stall a gthread worker for a moment"
        + (f" (this run: stalls in {', '.join(fig['stalls'])})" if fig.get("stalls") else "")
        + ". At the earlier 1,000 requests that was about once a second, with 4 new connections per 1,000 "
        "requests; now it is rare and still bounds memory growth from a leak."
        if recycling
        else f"3. **Worker recycling (`max_requests` {g['max_requests']}).** Off: pools live as long as the "
        "workers."
    )
    out.append(recycle)
    out.append(
        "4. **Database connections: Django's psycopg pool, one per worker (min 1, max = threads).** Peak "
        f"open from web under load: {db['peak_open']}, against {g['workers']} x {g['threads']} = "
        f"{int(g['workers']) * int(g['threads'])} (the bound the pool guarantees). New connections only come "
        "from new workers (start and recycling). PgBouncer is not needed at this size."
    )
    out.append(
        "5. **Static files: nginx from the shared volume, `gzip_static`, `open_file_cache`, `access_log off`,"
        " "
        "one-year immutable caching for hashed names, the security headers kept.** Tuned this round: "
        "`open_file_cache` (descriptors and sizes of the served files stay open, no open/fstat/close per "
        f"request). Measured side by side (commit 0ef5efd): nginx CPU per CSS request {sb} -> {sa} us, a "
        f"bare nginx {sbare} us; the nested regex location and the nine `add_header` lines cost under 1 us "
        f"(tried flat and without headers: no measurable change). This run: stack nginx {cpu_stack:.1f} us, "
        f"bare {cpu_bare:.1f} us per request; req/s {_x(bare)} of bare (identity) and {_x(bare_gz)} "
        "(gzip). These req/s are bounded by the single wrk thread (its own CPU per request is about as "
        "high as nginx's) and swing with the machine's load; the CPU per request is the stable figure. "
        "WhiteNoise stays in the app only as the fallback when it runs without nginx."
    )
    idle = sum(fig["memory_idle"].values())
    out.append(
        f"6. **Memory.** Idle {idle:.0f} MiB in total, {fig['memory_load_total']:.0f} MiB under load "
        "(usage minus inactive page cache, as `docker stats` computes it; read from the cgroups when "
        f"`docker stats` reports 0 B; this run: {fig['memory_source']}). The compose limits (db 256, web "
        "384, nginx 64 MiB: 704 MiB) leave the rest of a 1 GB host to the system."
    )
    out.append(
        f"7. **Image: {before_img} MB (commit {img_commit}) -> {fig['image_mb']:.0f} MB.** The builder stage "
        "now removes what the runtime never uses before the venv is copied: pip (nothing is installed at "
        "run time), Django's translations other than the site's two languages (`LANGUAGES`: ru, en) and "
        f"GeoDjango (not installed as an app). What remains: base image {parts['base']:.0f} MB + "
        f"{fig['image_mb'] - parts['base']:.0f} MB of app layers (venv {parts['venv']:.0f} MB, of which "
        "psycopg's bundled libpq and OpenSSL are about 9 MB, then code and collected static files). The "
        "venv's byte code stays (the container is read-only; without it every start compiles Django). "
        "The base image is the registry-free `local/python:3.13` (Debian packages); with the official "
        "`python:3.13-slim` the size differs."
    )
    out.append(
        "8. **Deploy: Ansible pipelining for every connection.** `ansible.cfg` only enabled it under "
        "`[ssh_connection]`, which the docker connection of the sandbox and of Molecule ignores: each module "
        "ran as five `docker exec` (temp dir, copy, chmod, run, clean-up). With `[connection] pipelining = "
        f"true` the sandbox rerun took {na} s instead of {nb} s to the same task (commit ed50a43; both on "
        "the loaded machine). The rerun is now some 250 tasks at a few tenths of a second each; see the "
        "deploy section for what remains."
    )
    if BEFORE["docker_role_noop"]:
        before, after = BEFORE["docker_role_noop"]
        out.append(
            "9. **Deploy: the docker role's apt task only when a package is missing.** The apt module (its "
            "cache check and python-apt start) was the slowest task of the no-op rerun. The role's one "
            "dpkg-query now covers the wanted packages too, and apt runs only when one is missing (with "
            "`state: present` it never upgraded anything). Rerun of the docker role alone (`--tags "
            f"docker`, median of {DOCKER_ROLE_RUNS} alternating runs each, commit dd95a9f): {before:.0f} s "
            f"-> {after:.0f} s."
        )
    (cold_b, noop_b), (cold_a, noop_a) = BEFORE["deploy_mitogen"]
    out.append(
        "10. **Deploy: Mitogen, and fewer tasks.** After pipelining, a module run still cost about 0.35 s "
        "(a new Python on the host unpacking the module, plus the `docker exec`), times some 250 module "
        "runs. `ansible.cfg` now selects Mitogen's linear strategy (`mitogen` pinned in requirements.txt, "
        "a short plugin in ansible/plugins/strategy that falls back to Ansible's linear strategy when "
        "the package is missing): one Python per host for the whole run, module code cached there; the "
        "sandbox and Molecule name the connection `docker` (the short name of community.docker.docker), "
        "which Mitogen takes over, and it takes over `ssh` for real hosts. `ANSIBLE_STRATEGY=linear` opts "
        "out, and ansible-core warns that third-party strategies are deprecated (still supported by the "
        "pinned ansible 12). With it: role input checks once per `site.yml` run (the pre-flight play's; "
        "`<role>_validate: false` in the later plays), the base packages checked with one dpkg-query, the "
        "database started early only when a release switches, and only the `min` and `network` facts. "
        f"Sandbox, same quiet machine: cold deploy {cold_b} s -> {cold_a} s, no-op rerun {noop_b} s -> "
        f"{noop_a} s (0 changed). The deploy table below has the rerun with and without Mitogen side by "
        "side. Over SSH, as a real host is reached (the sandbox host as the deploy user with its key, "
        "sudo for root, ControlPersist and pipelining for the linear run), the no-op rerun took 28-30 s "
        "with Mitogen and 74 s without (by hand at 86cfe12); Molecule's default scenario runs site.yml "
        "that way and requires 0 changed."
    )
    return "\n\n".join(out) + "\n"


def _deploy(fig: dict) -> str:
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
    for key, name, label in (
        ("cold_s", "cold", "cold deploy (`scripts/deploy.sh sandbox`, fixed release label)"),
        ("noop_s", "noop", "no-op rerun (same command)"),
        ("noop_linear_s", "noop_linear", "no-op rerun without Mitogen (`ANSIBLE_STRATEGY=linear`)"),
        ("code_only_s", "code_only", "code-only redeploy (`--app-only`, new release label)"),
    ):
        if name not in dep:  # measured before the step existed
            continue
        r = dep[name]
        state = " **failed**" if name.replace("_", "-") in failed else ""
        lines.append(f"| {label} | {dep[key]:.0f} | ok={r['ok']} changed={r['changed']}{state} |")
    text = "\n".join(lines) + "\n\n"
    roles = dep.get("roles") or {}
    if roles:
        text += "Seconds (tasks run) per role, from `profile_tasks` (on by default in ansible.cfg):\n\n"
        names = sorted(
            {r for step in roles.values() for r in step},
            key=lambda r: -roles.get("noop", {}).get(r, [0, 0])[0],
        )
        text += "| step | " + " | ".join(names) + " |\n| --- |" + " ---: |" * len(names) + "\n"
        steps = (
            ("cold", "cold"),
            ("noop", "no-op rerun"),
            ("noop-linear", "no-op, linear"),
            ("code-only", "code-only"),
        )
        for step, label in steps:
            if step in roles:
                cells = (roles[step].get(r) for r in names)
                text += (
                    f"| {label} | " + " | ".join(f"{c[0]:.0f} ({c[1]})" if c else "" for c in cells) + " |\n"
                )
        text += "\n"
    noop_tasks = sum(c[1] for c in roles.get("noop", {}).values()) or "about 180"
    linear = (
        f" ({dep['noop_linear_s']:.0f} s with the plain linear strategy in the same run)"
        if "noop_linear_s" in dep
        else ""
    )
    text += (
        "The cold deploy installs the base packages and Docker's engine inside the host and streams four"
        " images into it (the slowest task: about 900 MB through `docker save | docker load`); the rerun"
        f" consists of checks only: {noop_tasks} tasks (skipped ones included) in {dep['noop_s']:.0f} "
        f"s{linear}. A task costs a module run on the host plus Ansible's own work on the control node "
        "(about 0.07 s a task here, even for an `assert`). The levers, in the order they were applied "
        "(decisions 8 to 10): pipelining, apt only when a package is missing (docker and base roles), "
        "then Mitogen's strategy, which keeps one Python per host for the run (a module run went from "
        "about 0.35 s to a few hundredths), the role input checks once per run instead of twice, the "
        "database started early only for a release, and a smaller fact subset. What remains is mostly "
        "the number of tasks: the slowest ones of the rerun are listed below (`community.general.ufw` "
        "runs the `ufw` program, itself Python, for each rule)."
    )
    slow = (dep.get("slowest") or {}).get("noop")
    if slow:
        text += "\n\nSlowest tasks of the rerun: " + "; ".join(f"{t} {sec:.1f} s" for t, sec in slow) + "."
    if failed:
        text += (
            f" In this measurement {', '.join(failed)} failed: the step's figure is the time to the failure "
            "(its log is kept, see `logs` in bench/deploy.json)."
        )
    return text + "\n"


def render(fig: dict, tables: str, variants: str) -> str:
    machine, versions = fig["machine"], fig["versions"]
    tools = ", ".join(f"{k} {v}" for k, v in versions.items())
    sf = fig["static_file"]
    w = fig["wrk"]
    gs = fig["gunicorn"]
    load = fig["load"]
    return f"""# Benchmarks

Written by `make bench` (`bench/run.sh`, full mode) from its latest run; do not edit by hand. The issue's
targets are reported as met or missed, never asserted. `make bench QUICK=1` (1 s runs, checks only that
every figure is produced) runs in CI and leaves this file alone.

- Date: {fig["date"]}, commit {fig.get("commit", "?")}; the whole run took {fig["total_seconds"]} s (stack
  start {fig["stack_up_seconds"]} s).
- Machine: {machine["nproc"]} CPUs ({machine["cpu"]}), {machine["memory"]} memory, kernel {machine["kernel"]}.
  Shared: load average {load["min"]:.1f} to {load["max"]:.1f} (median {load["median"]:.1f}) while wrk ran;
  req/s and their ratios move with it, CPU per request much less.
- Tools: {tools}.
- gunicorn in web: {gs["workers"]} workers x {gs["threads"]} threads ({gs["worker_class"]}), max_requests
  {gs["max_requests"]} (jitter {gs["max_requests_jitter"]}), keepalive {gs["keepalive"]} s.

## How it is measured

- One run, one machine, side by side: the stack (`scripts/local-stack.sh`, project `bench-<random>`), a naive
  setup (`gunicorn config.wsgi`, gunicorn's defaults: one sync worker, no config file; same app image, same
  database, on the stack's backend network), a bare nginx (same image and certificate, TLS parameters of
  the stack, `root /srv; gzip_static on;` and nothing else) serving the same static volume, and gunicorn
  candidates (web's image and environment with other `GUNICORN_WORKERS`/`GUNICORN_THREADS`).
- Load: Debian's wrk in a container on the stack's networks (no Docker port proxy in the path, nothing leaves
  the machine), `wrk -t1 -c{w["c"]} -d{w["d"]}s --latency`, a 2 s warm-up per target, {w["n"]} rounds
  interleaved across the targets (drift on a shared machine hits all of them alike), median reported.
- CPU per request: each container's cgroup CPU counter before and after every wrk run, divided by the
  requests served (server side: every container that served the request; wrk's own is kept apart).
- Dynamic page: `/` (renders a template after one `COUNT(*)` query). Through the stack it is HTTPS (the
  site's only scheme) with nginx keepalive to gunicorn; direct and naive are plain HTTP to port 8000 with the
  `Host` and `X-Forwarded-Proto: https` headers nginx would send.
- Static file: the page's hashed CSS `{sf["path"]}` ({sf["bytes"]:,} bytes, {sf["gzip_bytes"]:,} gzipped),
  with and without `Accept-Encoding: gzip`.
- Database: `pg_stat_database.sessions` before and after each run through the stack (through one long-lived
  psql session, so the probe adds no connection), and the peak of web's connections in `pg_stat_activity`
  sampled every 0.2 s.
- Memory: per container, usage minus inactive page cache, idle before the load and the maximum sampled during
  the runs through the stack. MB in the targets are 10^6 bytes (as `docker images` shows); MiB are 2^20.
- Build: `docker build` of the app image on the same base, `--no-cache` (the pip download cache mount is kept,
  so it measures the build, not the network) and again with the warm layer cache.

## Results

{tables}
## gunicorn candidates, side by side

{variants}
## Deploy (sandbox host)

{_deploy(fig)}
## Tuning decisions

{_decisions(fig)}"""
