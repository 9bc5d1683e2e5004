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

wsgi_app = "config.wsgi:application"
# Load Django once in the master, then fork: workers share its memory pages, a configuration error stops
# the master before any worker starts, and a recycled worker (max_requests) is a fork, not a fresh import.
# Nothing connects to the database at import time, so every worker opens its own connections.
preload_app = True

bind = env("GUNICORN_BIND", default="0.0.0.0:8000", cast=csv_list)
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
