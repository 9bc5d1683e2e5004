"""Measure how many PostgreSQL connections gunicorn opens per 1000 requests, per connection mode.

The figures in docs/runtime/lifecycle.md ("Database connections") come from it. It runs the app from the
working tree, so it needs the project's virtualenv (Django, gunicorn, psycopg), from the repository root:

    .venv/bin/python -m bench.db_connections [--requests 5000] [--concurrency 8] [--max-requests 0]

It migrates a scratch database; for each mode it starts gunicorn as the image does (2 workers x 4 threads
unless the mode says otherwise, max_requests 1000 + jitter 100), sends requests to `/` (one query each)
from `concurrency` keep-alive clients, and reads PostgreSQL's own counters:
- connections opened: the delta of pg_stat_database.sessions (read after gunicorn has stopped, when
  every backend has flushed its statistics);
- peak backends: the highest pg_stat_database.numbackends seen while the load runs (sampled every 20 ms).
Needs a PostgreSQL superuser on 127.0.0.1:5432 with trust auth (the CI database), or ADMIN_DSN.
"""

# ruff: noqa: S106, S603
# (a fixed throwaway secret key; it runs gunicorn and manage.py with arguments it builds itself)
import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from .network import free_port

APP_DIR = Path(__file__).resolve().parents[1] / "app"
ADMIN_DSN = os.environ.get("ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = "djangoapp_connections_bench"
STATIC_ROOT = tempfile.mkdtemp(prefix="djangoapp-bench-static-")

MODES = {
    "pool (default: min 1, max 4 per worker)": {"DJANGO_DB_POOL": "true"},
    "persistent (CONN_MAX_AGE=600 + health checks)": {
        "DJANGO_DB_POOL": "false",
        "DJANGO_DB_CONN_MAX_AGE": "600",
    },
    "per request (CONN_MAX_AGE=0, baseline)": {"DJANGO_DB_POOL": "false", "DJANGO_DB_CONN_MAX_AGE": "0"},
    # 8 threads per worker: the pool keeps its own cap, persistent connections follow the threads.
    "8 threads, pool capped at 2 per worker": {"GUNICORN_THREADS": "8", "DJANGO_DB_POOL_MAX_SIZE": "2"},
    "8 threads, persistent": {
        "GUNICORN_THREADS": "8",
        "DJANGO_DB_POOL": "false",
        "DJANGO_DB_CONN_MAX_AGE": "600",
    },
}


def environment(**extra):
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        DJANGO_SECRET_KEY="measure-only-4f9a1c7e2b8d5f3a6c0e9b4d7a2f5c8e1b3d6a9f2c5e8b1d4a7",
        DJANGO_ALLOWED_HOSTS="localhost",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_STATIC_ROOT=STATIC_ROOT,
    )
    env.update(extra)
    return env


def admin(sql, params=None):
    with psycopg.connect(ADMIN_DSN, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def db_counters():
    (row,) = admin("SELECT sessions, numbackends FROM pg_stat_database WHERE datname = %s", (BENCH_DB,))
    return row


def wait_until_up(port, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not come up")


def load(port, total, concurrency):
    """`total` GET / requests over `concurrency` keep-alive connections. Halfway through, every
    backend of the database is terminated (as a database restart or failover would). Returns the
    latencies in ms and the number of failed (non-200) responses."""
    latencies, failures, lock = [], [], threading.Lock()
    counter = iter(range(total))
    headers = {"Host": "localhost", "X-Forwarded-Proto": "https"}

    def get(connection):
        connection.request("GET", "/", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for number in iter(lambda: next(counter, None), None):
            if number == total // 2:
                admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (BENCH_DB,),
                )
            started = time.perf_counter()
            try:
                status = get(connection)
            except (http.client.HTTPException, ConnectionError):
                # A recycled worker closed the keep-alive connection: reconnect and send again.
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = get(connection)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    failures.append(status)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(failures)


def measure(name, overrides, total, concurrency, gunicorn_env):
    port = free_port()
    env = environment(GUNICORN_BIND=f"127.0.0.1:{port}", **{**gunicorn_env, **overrides})
    sessions_before, _ = db_counters()
    # A file, not a pipe: an unread pipe fills up and blocks gunicorn's access log.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
            cwd=APP_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        peak, sampling = 0, True

        def sample():
            nonlocal peak
            while sampling:
                peak = max(peak, db_counters()[1])
                time.sleep(0.02)

        try:
            wait_until_up(port, process)
            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.perf_counter()
            latencies, failed = load(port, total, concurrency)
            elapsed = time.perf_counter() - started
            sampling = False
            sampler.join()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    time.sleep(1.5)  # let the exited backends' statistics land
    sessions_after, _ = db_counters()
    opened = sessions_after - sessions_before
    latencies.sort()
    return {
        "mode": name,
        "requests": len(latencies),
        "opened": opened,
        "per_1000": opened * 1000 / len(latencies),
        "peak_backends": peak,
        "failed": failed,
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", default="1000", help="GUNICORN_MAX_REQUESTS (0 disables recycling)")
    args = parser.parse_args()

    admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{BENCH_DB}"')
    try:
        for command in (["migrate"], ["collectstatic", "--noinput"]):
            subprocess.run(
                [sys.executable, "manage.py", *command, "--verbosity", "0"],
                cwd=APP_DIR,
                env=environment(),
                check=True,
            )
        gunicorn_env = {
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4",
            "GUNICORN_MAX_REQUESTS": args.max_requests,
            "GUNICORN_MAX_REQUESTS_JITTER": "100" if args.max_requests != "0" else "0",
        }
        print(
            f"{args.requests} requests to / with {args.concurrency} keep-alive clients; gunicorn gthread "
            f"2 workers x 4 threads unless stated, max_requests {args.max_requests}"
        )
        print(
            f"{'mode':48} {'opened':>7} {'per 1000':>9} {'peak':>5} {'failed':>7} "
            f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        )
        for name, overrides in MODES.items():
            r = measure(name, overrides, args.requests, args.concurrency, gunicorn_env)
            print(
                f"{r['mode']:48} {r['opened']:>7} {r['per_1000']:>9.1f} {r['peak_backends']:>5} "
                f"{r['failed']:>7} {r['rps']:>7.0f} {r['p50']:>7.1f} {r['p99']:>7.1f}"
            )
    finally:
        admin(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        shutil.rmtree(STATIC_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
