"""The request id, health endpoints and the release header, before anything else in the middleware chain.

RequestIdMiddleware comes first: every log record written while a request is served, by any middleware
or view, names the request (config.logs), and so does the response's X-Request-ID header.

HealthAndReleaseMiddleware follows, so /healthz and /readyz work for any Host header (container
healthchecks use 127.0.0.1) and over plain HTTP (no HTTPS redirect), and every other response, whatever
produced it, carries X-App-Release. A page whose view fails because the database is unreachable gets a
friendly 503 page with Retry-After instead of a 500; the connection pool reconnects on its own when the
database returns.
"""

import logging
import uuid

from django.conf import settings
from django.core.signals import request_finished
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.template.loader import render_to_string
from django.utils.deprecation import MiddlewareMixin

from config.logs import NO_REQUEST, current_request_id

logger = logging.getLogger(__name__)

LIVENESS_PATHS = frozenset({"/healthz", "/healthz/"})
READINESS_PATHS = frozenset({"/readyz", "/readyz/"})
# Seconds a client is asked to wait before retrying a page that failed because the database is unavailable.
DATABASE_RETRY_AFTER = 30


def parse_request_id(value):
    """The id `value` names as 32 lowercase hex digits (nginx's $request_id), or None when it is not a
    UUID written out canonically: uuid.UUID() lets int() skip whitespace, a sign and underscores, which
    must not reach a log line or a header."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed.hex if value.lower() in (parsed.hex, str(parsed)) else None


class RequestIdMiddleware:
    """One id per request from nginx to the logs: nginx's X-Request-ID (the id of its own access line)
    when it is one, a new id otherwise (a client that reached gunicorn without nginx)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = parse_request_id(request.META.get("HTTP_X_REQUEST_ID", "")) or uuid.uuid4().hex
        # Kept until the server closes the response (below), not reset on the way out: Django logs a
        # 4xx/5xx response after the middleware chain has returned, and gunicorn writes its access line.
        current_request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


def _forget_request_id(**kwargs):
    current_request_id.set(NO_REQUEST)


request_finished.connect(_forget_request_id, dispatch_uid="core.middleware.forget_request_id")


class HealthAndReleaseMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.release = settings.APP_RELEASE
        self.checks = {
            **dict.fromkeys(LIVENESS_PATHS, self.liveness),
            **dict.fromkeys(READINESS_PATHS, self.readiness),
        }
        # The health answers skip the rest of the chain, so they get the security headers from Django's
        # own middleware here (HSTS only over HTTPS, as everywhere else).
        self.header_middleware = (
            SecurityMiddleware(get_response),
            XFrameOptionsMiddleware(get_response),
            CrossOriginHeadersMiddleware(get_response),
        )

    def __call__(self, request):
        check = self.checks.get(request.path_info)
        if check:
            response = check()
            for middleware in self.header_middleware:
                response = middleware.process_response(request, response)
        else:
            response = self.get_response(request)
        response["X-App-Release"] = self.release
        return response

    def process_exception(self, request, exception):
        """Database unreachable (down, restarting, pool exhausted): 503 with a static page, not a 500."""
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("Database unavailable, answering 503: %s", exception)
        # The page is rendered without context or request: nothing in it may touch the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        response["Cache-Control"] = "no-store"
        return response

    def liveness(self):
        """The process serves requests. Never touches the database: a database outage must not get
        every web container restarted."""
        return self._json(200, status="ok", release=self.release)

    def readiness(self):
        """The database answers and its schema matches the code (no unapplied migrations)."""
        connection = connections[DEFAULT_DB_ALIAS]
        try:
            connection.ensure_connection()
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            logger.warning("Not ready: database unavailable: %s", exc)
            return self._json(503, status="unavailable", reason="database unavailable", release=self.release)
        if plan:
            pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
            logger.warning("Not ready: %d unapplied migration(s)", len(pending))
            return self._json(
                503,
                status="unavailable",
                reason="unapplied migrations",
                migrations=pending,
                release=self.release,
            )
        return self._json(200, status="ok", release=self.release)

    @staticmethod
    def _json(http_status, **body):
        response = JsonResponse(body, status=http_status)
        response["Cache-Control"] = "no-store"
        return response


class CrossOriginHeadersMiddleware(MiddlewareMixin):
    """The two headers no library of the stack sends: Cross-Origin-Resource-Policy
    (settings.SECURE_CROSS_ORIGIN_RESOURCE_POLICY) and Reporting-Endpoints, which names the URL of the CSP's
    `report-to` endpoint (settings.CSP_REPORT_ENDPOINT, CSP_REPORT_PATH)."""

    def process_response(self, request, response):
        headers = response.headers
        headers.setdefault("Cross-Origin-Resource-Policy", settings.SECURE_CROSS_ORIGIN_RESOURCE_POLICY)
        endpoint = f'{settings.CSP_REPORT_ENDPOINT}="{settings.CSP_REPORT_PATH}"'
        headers.setdefault("Reporting-Endpoints", endpoint)
        return response
