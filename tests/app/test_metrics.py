"""Application metrics (DJANGO_METRICS): off, nothing of them is loaded; on, a real gunicorn's master serves
the sum of its workers' counts on a port of its own, and the site has no /metrics."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from app_support import APP_DIR, fetch, free_port, gunicorn, run_python, url_of_test_database
from django.conf import settings
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

PROXIED = {"Host": "localhost", "X-Forwarded-Proto": "https"}
# django-prometheus's count of requests per view (landing is `/`), transport and method.
VIEW_COUNTER = "django_http_requests_total_by_view_transport_method"
LANDING = {"view": "landing", "transport": "https", "method": "GET"}
METRICS_MODULES = ("django_prometheus", "prometheus_client")

DUMP_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "apps": settings.INSTALLED_APPS,
    "middleware": settings.MIDDLEWARE,
    "engine": db["ENGINE"],
    "pool": db["OPTIONS"].get("pool"),
    "export_migrations": getattr(settings, "PROMETHEUS_EXPORT_MIGRATIONS", None),
}))
"""


def dump_settings(**overrides):
    result = run_python(DUMP_SETTINGS, **overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_off_by_default():
    assert "django_prometheus" not in settings.INSTALLED_APPS
    assert not [name for name in settings.MIDDLEWARE if name.startswith("django_prometheus")]
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def test_on_wraps_the_middleware_and_the_database_engine():
    off, on = dump_settings(), dump_settings(DJANGO_METRICS="true")
    assert "django_prometheus" in on["apps"]
    assert on["middleware"] == [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *off["middleware"],
        "core.metrics.PrometheusViewMiddleware",
    ]
    # The app's own order holds inside: the request id first, axes last.
    assert off["middleware"][:2] == [
        "core.middleware.RequestIdMiddleware",
        "core.middleware.HealthAndReleaseMiddleware",
    ]
    assert off["middleware"][-1] == "axes.middleware.AxesMiddleware"
    assert on["engine"] == "django_prometheus.db.backends.postgresql"
    assert on["pool"] == off["pool"] and on["pool"]["max_size"] == 4
    # The gunicorn master loads the app before forking: no query may run then.
    assert on["export_migrations"] is False


def test_off_loads_nothing_of_prometheus():
    """The app as gunicorn's master preloads it, with a request served: no module of either library."""
    result = run_python(
        "import sys\n"
        "from config.wsgi import application\n"
        "from django.test import Client\n"
        "assert Client().get('/healthz').status_code == 200\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {METRICS_MODULES!r}))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- a real gunicorn ---


def reporting_config(tmp_path):
    """app/gunicorn.conf.py plus a post_request hook: each worker reports which metrics modules it has
    loaded after every request it served."""
    report = tmp_path / "modules.jsonl"
    config = tmp_path / "gunicorn-report.conf.py"
    config.write_text(
        "import json, runpy, sys\n"
        f"globals().update(runpy.run_path({str(APP_DIR / 'gunicorn.conf.py')!r}))\n"
        "def post_request(worker, req, environ, resp):\n"
        f"    loaded = sorted(m for m in sys.modules if m.split('.')[0] in {METRICS_MODULES!r})\n"
        f"    with open({str(report)!r}, 'a') as out:\n"
        "        out.write(json.dumps([worker.pid, loaded]) + '\\n')\n"
    )
    return config, report


def loaded_modules(report):
    return [loaded for _pid, loaded in map(json.loads, report.read_text().splitlines())]


def scrape(metrics_port):
    status, headers, body = fetch(metrics_port, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    return body.decode()


def sample(text, name, labels=None):
    """The value of one sample of the exposition (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and (labels is None or s.labels == labels):
                return s.value
    return 0.0


def landing_count(metrics_port):
    return sample(scrape(metrics_port), f"{VIEW_COUNTER}_total", LANDING)


def workers_of(master):
    """Live children of the gunicorn master, from /proc."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(ppid) == master and state != "Z":
            pids.add(int(stat.parent.name))
    return pids


def write_previous_run(directory):
    """Files a previous gunicorn left behind: counts for the very series the test reads, under a pid that
    is not running."""
    counter = MmapedDict(str(directory / "counter_999999.db"))
    key = mmap_key(
        VIEW_COUNTER,
        f"{VIEW_COUNTER}_total",
        list(LANDING),
        list(LANDING.values()),
        "Count of requests by view, transport, method.",
    )
    counter.write_value(key, 1000.0, 0.0)
    counter.close()
    MmapedDict(str(directory / "histogram_999999.db")).close()


def metrics_gunicorn(config, multiproc, metrics_port, *, metrics):
    """A real gunicorn of the app on the test database, its metrics on or off (DJANGO_METRICS unset)."""
    return gunicorn(
        config,
        DATABASE_URL=url_of_test_database(),
        DJANGO_ALLOWED_HOSTS="localhost",
        DJANGO_METRICS="true" if metrics else None,
        APP_METRICS_PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )


@pytest.mark.django_db(transaction=True)
def test_the_master_serves_the_sum_of_its_workers(tmp_path):
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    write_previous_run(multiproc)
    metrics_port = free_port()
    config, report = reporting_config(tmp_path)
    with metrics_gunicorn(config, multiproc, metrics_port, metrics=True) as (port, process):
        assert not list(multiproc.glob("*_999999.db")), "files of a previous run were kept"
        assert landing_count(metrics_port) == 0

        for _ in range(6):
            assert fetch(port, "/", PROXIED)[0] == 200
        assert landing_count(metrics_port) == 6
        # The pooled connections go through django-prometheus's engine.
        assert (
            sample(
                scrape(metrics_port), "django_db_execute_total", {"alias": "default", "vendor": "postgresql"}
            )
            >= 6
        )

        # A worker that served requests dies without a chance to clean up; its counts stay in the sum.
        workers = workers_of(process.pid)
        assert len(workers) == 2
        victim = next(pid for pid in workers if (multiproc / f"counter_{pid}.db").exists())
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (replaced := workers_of(process.pid)) == workers or len(replaced) != 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        assert victim not in replaced
        assert landing_count(metrics_port) == 6
        # Folded into one file for dead workers, so recycled workers do not pile files up.
        assert not list(multiproc.glob(f"*_{victim}.db"))

        # The victim's counts plus those of the processes serving now: the sum spans processes.
        for _ in range(6):
            assert fetch(port, "/", PROXIED)[0] == 200
        assert landing_count(metrics_port) == 12
        # The series the alert rules read, and none of those the trimmed middleware leaves out.
        text = scrape(metrics_port)
        assert sample(text, "django_http_responses_total_by_status_total", {"status": "200"}) >= 12
        latency = {"view": "landing", "method": "GET", "le": "+Inf"}
        assert sample(text, "django_http_requests_latency_seconds_by_view_method_bucket", latency) >= 12
        assert sample(text, "django_http_requests_latency_including_middlewares_seconds_count", {}) >= 12
        assert "django_http_responses_total_by_charset_total" not in text

        # Nothing of this through the site: nginx sends every path to Django.
        for path in ("/metrics", "/metrics/"):
            assert fetch(port, path, PROXIED)[0] == 404
        # (and the worker does load django-prometheus: the check of the test below can fail)
        assert all(loaded for loaded in loaded_modules(report))


@pytest.mark.django_db(transaction=True)
def test_with_metrics_off_a_worker_loads_nothing_of_them(tmp_path):
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    metrics_port = free_port()
    config, report = reporting_config(tmp_path)
    with metrics_gunicorn(config, multiproc, metrics_port, metrics=False) as (port, _process):
        for path in ("/", "/healthz", "/no-such-page/"):
            fetch(port, path, PROXIED)
        modules = loaded_modules(report)
        assert len(modules) >= 3
        assert modules == [[]] * len(modules)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", metrics_port), timeout=5).close()
        assert not list(multiproc.iterdir())
