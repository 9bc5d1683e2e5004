"""Deploy figures of the sandbox host (`bench/run.sh --deploy`): cold deploy, no-op reruns, code-only
redeploy, with seconds per role and the slowest tasks from profile_tasks. Written to bench/deploy.json, shown
by every later run."""

# ruff: noqa: S603, S607, S108
# (it runs the project's scripts with arguments it builds itself; the log directory defaults to /tmp)
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from .containers import log, run

ROOT = Path(__file__).resolve().parents[1]


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
