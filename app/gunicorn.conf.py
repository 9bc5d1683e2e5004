"""Gunicorn settings, from the environment like Django's (docs/config/environment.md lists them).

Run from the app directory: `gunicorn -c gunicorn.conf.py config.wsgi`.
Module-level names that match a gunicorn setting are applied, hence the `env` alias: a module-level
`config` would be taken for gunicorn's own `config` setting.
"""

import os
import sys
from pathlib import Path

# Importable whatever the working directory (gunicorn only adds its chdir to sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gunicorn.glogging import Logger

from config.env import Choices, csv_list
from config.env import config as env
from config.logs import build_logging
from config.replica import replica_binds

wsgi_app = "config.wsgi:application"
# Load Django once in the master, then fork: workers share its memory pages, a configuration error stops
# the master before any worker starts, and a recycled worker (max_requests) is a fork, not a fresh import.
# Nothing connects to the database at import time, so every worker opens its own connections.
preload_app = True

# With GUNICORN_REPLICAS above 1, several containers share the release slot's socket directory and each binds
# a socket of its own (config/replica.py).
bind = replica_binds(
    env("GUNICORN_BIND", default="0.0.0.0:8000", cast=csv_list), env("GUNICORN_REPLICAS", default=1, cast=int)
)
workers = env("GUNICORN_WORKERS", default=2, cast=int)
threads = env("GUNICORN_THREADS", default=4, cast=int)
# gthread lets one worker overlap requests that wait on PostgreSQL; with a single thread the plain
# sync worker is the simpler, equivalent choice.
worker_class = "gthread" if threads > 1 else "sync"

timeout = env("GUNICORN_TIMEOUT", default=30, cast=int)
graceful_timeout = env("GUNICORN_GRACEFUL_TIMEOUT", default=30, cast=int)
keepalive = env("GUNICORN_KEEPALIVE", default=5, cast=int)
# Recycle workers now and then (bounded memory growth); jitter keeps them from restarting together.
# Rarely: every recycle stalls a gthread worker and opens a new set of pooled connections (the worker
# recycling decision in docs/benchmarks.md).
max_requests = env("GUNICORN_MAX_REQUESTS", default=20000, cast=int)
max_requests_jitter = env("GUNICORN_MAX_REQUESTS_JITTER", default=2000, cast=int)

# Only these peers may set X-Forwarded-* for gunicorn (wsgi.url_scheme, REMOTE_ADDR); in the stack
# that is the Docker network nginx sits on.
forwarded_allow_ips = env("GUNICORN_FORWARDED_ALLOW_IPS", default="127.0.0.1")

# Everything goes to stdout, in the application's format and through its redaction filter.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%({x-forwarded-for}i)s" "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
log_level = env(
    "DJANGO_LOG_LEVEL",
    default="INFO",
    cast=Choices(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], cast=str.upper),
)
loglevel = log_level.lower()


class _NoAccessLogger(Logger):
    """gunicorn's logger without the access log line (GUNICORN_ACCESS_LOG=false)."""

    def access(self, resp, req, environ, request_time):
        pass


# Off by default: nginx logs every request itself, with the upstream that answered, its release and the
# request id, so the line here would be a second record of the same request, and it costs CPU on every
# request (formatting and the redaction filter; docs/benchmarks.md). GUNICORN_ACCESS_LOG=true turns it on.
if not env("GUNICORN_ACCESS_LOG", default=False, cast=bool):
    logger_class = _NoAccessLogger
logconfig_dict = build_logging(
    fmt=env("DJANGO_LOG_FORMAT", default="plain", cast=Choices(["plain", "json"])), level=log_level
)

# Gunicorn 25+ opens a control socket under $HOME or $XDG_RUNTIME_DIR by default; the container user
# has no writable home and nothing uses the socket.
control_socket_disable = True

# The worker heartbeat file: in memory, not on the container's overlay filesystem (which can stall
# and get workers killed as unresponsive).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# --- Application metrics (DJANGO_METRICS; docs/runtime/observability.md) ---------------------------------
# Workers are forks that share no memory: each counts into files of its own (prometheus_client's
# multiprocess mode) and the master serves their sum on a port of its own. A worker answering a scrape
# would report itself only, and a /metrics URL would be public (nginx proxies every path to Django).
if env("DJANGO_METRICS", default=False, cast=bool):
    import threading

    _metrics_dir = Path(env("PROMETHEUS_MULTIPROC_DIR", default="/tmp/prometheus-multiproc"))  # noqa: S108
    _metrics_port = env("APP_METRICS_PORT", default=9464, cast=int)
    # prometheus_client picks its mode when first imported (just below), and the app preloaded next
    # creates the master's first files: the variable and the directory must both exist before that.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)
    _metrics_dir.mkdir(parents=True, exist_ok=True)

    from prometheus_client import CollectorRegistry, multiprocess, start_http_server
    from prometheus_client.mmap_dict import MmapedDict

    # Held while a scrape reads the files and while a dead worker's files are folded: a scrape must see
    # them either before or after, never both or neither.
    _metrics_files = threading.Lock()
    _metrics_server = None
    # Types whose values add up across processes (gauges are per process, labelled with its pid).
    _ADDITIVE = ("counter", "histogram", "summary")

    class _WorkersSum:
        def __init__(self):
            self.collector = multiprocess.MultiProcessCollector(None, path=str(_metrics_dir))

        def collect(self):
            with _metrics_files:
                return self.collector.collect()

    def _fold_dead_worker(pid):
        """Adds a dead worker's counts into one file for all dead workers and removes its own: the sum
        stays, and recycled workers (max_requests) do not pile files up in the small /tmp."""
        with _metrics_files:
            for path in _metrics_dir.glob(f"*_{pid}.db"):
                kind = path.name.split("_", 1)[0]
                if kind not in _ADDITIVE:
                    continue
                dead = MmapedDict(str(_metrics_dir / f"{kind}_dead.db"))
                try:
                    for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
                        dead.write_value(key, dead.read_value(key)[0] + value, 0.0)
                finally:
                    dead.close()
                path.unlink()

    def on_starting(server):
        # Files of a previous run would be added to this run's counts, and a worker given a pid seen
        # before would carry on from its values.
        for stale in _metrics_dir.glob("*.db"):
            stale.unlink()

    def when_ready(server):
        global _metrics_server
        registry = CollectorRegistry()
        registry.register(_WorkersSum())
        # Every interface of the container: reachable on the Docker networks it joins, published nowhere.
        _metrics_server, _thread = start_http_server(_metrics_port, addr="0.0.0.0", registry=registry)  # noqa: S104
        server.log.info("Application metrics on port %d", _metrics_port)

    def post_fork(server, worker):
        # The worker inherited the listening socket; only the master answers on it.
        _metrics_server.server_close()

    def child_exit(server, worker):
        multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))
        _fold_dead_worker(worker.pid)
