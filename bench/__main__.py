"""`python3 -m bench`: the subcommands bench/run.sh calls (see its header for the whole run).

    python3 -m bench free-resources   # two free 127.0.0.1 ports and two free 172.30.x.0/24 subnets
    python3 -m bench measure ...      # the containers, the load, the figures, the report
    python3 -m bench render --figures FILE [--deploy-figures bench/deploy.json] --write-doc docs/benchmarks.md
    python3 -m bench deploy --out bench/deploy.json

Standard library only: it runs with the system python3 before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .containers import log, run
from .deploy import deploy_figures
from .figures import collect
from .harness import ROOT, Harness
from .load import Loader
from .network import free_port, free_subnet
from .report import candidates_table, missing, render_page, results_table, targets_table


def tool_versions(fig: dict, h: Harness) -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        res = run(cmd, check=False)
        return (res.stdout + res.stderr).strip()

    def in_image(image: str, *cmd: str) -> str:
        return out(["docker", "run", "--rm", "--entrypoint", cmd[0], image, *cmd[1:]])

    postgres = in_image(fig["postgres_image"], "postgres", "--version")
    return {
        "wrk": in_image(h.wrk_image, "wrk", "-v").splitlines()[0].split(" [")[0].removeprefix("wrk "),
        "docker": out(["docker", "version", "--format", "{{.Server.Version}}"]),
        "nginx": in_image(h.nginx_image, "nginx", "-v").split("/")[-1],
        "gunicorn": in_image(h.app_image, "gunicorn", "--version").split()[-1].rstrip(")"),
        "python": in_image(h.app_image, "python", "--version").split()[-1],
        "postgres": re.search(r"\d+\.\d+", postgres).group(0),
    }


def machine() -> dict[str, str]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "unknown")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
    }


def measure(args: argparse.Namespace) -> int:
    h = Harness(
        args.project, Path(args.state), args.app_image, args.python_image, args.nginx_image, args.wrk_image
    )
    quick = args.quick
    loader = Loader(
        wrk=h.name("wrk"),
        connections=int(os.environ.get("BENCH_CONNECTIONS", "16")),
        duration=1 if quick else int(os.environ.get("BENCH_DURATION", "8")),
        repeat=1 if quick else int(os.environ.get("BENCH_REPEAT", "3")),
        warmup=0 if quick else 2,
    )
    h.start()
    fig = collect(h, loader, up_seconds=args.up_seconds, quick=quick)
    fig["wrk"] = {"c": loader.connections, "d": loader.duration, "n": loader.repeat}
    fig["postgres_image"] = run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", h.services["db"]]
    ).stdout.strip()
    fig["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig["commit"] = run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], check=False
    ).stdout.strip()
    fig["total_seconds"] = round(time.time() - args.started)
    fig["load"] = {
        "min": min(loader.loads),
        "median": statistics.median(loader.loads),
        "max": max(loader.loads),
    }
    fig["machine"] = machine()
    fig["versions"] = tool_versions(fig, h) if args.write_doc or args.figures_out else {}
    (h.state / "figures.json").write_text(json.dumps(fig, indent=2))
    if args.figures_out:
        Path(args.figures_out).write_text(json.dumps(fig, indent=2))
    return report(fig, args.deploy_figures, args.write_doc, quick=quick)


def report(fig: dict, deploy_figures: str | None, write_doc: str | None, *, quick: bool) -> int:
    """Prints the tables; fails on a missing figure; renders the page (always, so that a citation of a figure
    that does not exist fails the quick run too) and writes it to `write_doc` if given."""
    if deploy_figures and Path(deploy_figures).exists():
        fig["deploy"] = json.loads(Path(deploy_figures).read_text())
    print(results_table(fig) + "\n" + targets_table(fig) + "\n" + candidates_table(fig))
    if lost := missing(fig, quick):
        log("figures: " + json.dumps(fig, indent=1))
        log("missing figures: " + "; ".join(lost))
        return 1
    page = render_page(fig)
    if write_doc:
        Path(write_doc).write_text(page)
        log(f"wrote {write_doc}")
    log(f"done in {fig['total_seconds']} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench")
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
        frontend = free_subnet()
        print(free_port(), free_port(), frontend, free_subnet(avoid=(frontend,)))
        return 0
    if args.cmd == "deploy":
        return deploy_figures(Path(args.out))
    if args.cmd == "render":
        fig = json.loads(Path(args.figures).read_text())
        return report(fig, args.deploy_figures, args.write_doc, quick=False)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
