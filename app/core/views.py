import json
import logging
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger(__name__)

# A browser's report is well under 2 KiB; anything much larger is not one.
CSP_REPORT_MAX_BYTES = 16 * 1024
# Reports per request that are logged (the Reporting API batches them).
CSP_REPORTS_LOGGED = 10


def landing(request):
    # The page's only database query for an anonymous visitor (the header asks `user` only for its session).
    return render(request, "core/landing.html", {"user_count": get_user_model().objects.count()})


class LogoutView(auth_views.LogoutView):
    """Django's POST-only logout, plus a page on GET that offers the button (instead of an empty 405), and
    the site's own "logged out" page: registration/logged_out.html stays the admin's."""

    http_method_names = ("get", "post", "options")
    template_name = "core/logged_out.html"

    def get(self, request, *args, **kwargs):
        return render(request, "core/logout.html")


@csrf_exempt  # browsers send reports without cookies or tokens
@require_POST
def csp_report(request):
    """Logs the CSP violations browsers report (report-uri and Reporting API formats), one warning each.
    nginx limits how often one address may post here; the size is limited here."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = CSP_REPORT_MAX_BYTES + 1
    if length > CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return HttpResponse(status=400)
    reports = payload if isinstance(payload, list) else [payload]
    for report in reports[:CSP_REPORTS_LOGGED]:
        body = _report_body(report)
        if body is None:
            return HttpResponse(status=400)
        logger.warning(
            "CSP violation: %s blocked %s on %s",
            _field(body, "effectiveDirective", "violated-directive"),
            _field(body, "blockedURL", "blocked-uri"),
            _field(body, "documentURL", "document-uri"),
        )
    return HttpResponse(status=204)


def _report_body(report):
    """The violation of one report: `{"csp-report": {...}}` (report-uri) or `{"type": "csp-violation",
    "body": {...}}` (Reporting API); None for anything else."""
    if not isinstance(report, dict):
        return None
    body = report.get("csp-report") if "csp-report" in report else report.get("body")
    return body if isinstance(body, dict) else None


def _field(body, *names):
    """A short, single-line value: URLs without query or fragment (they may carry tokens)."""
    value = next((str(body[name]) for name in names if body.get(name)), "-")
    if "://" in value:
        parts = urlsplit(value)
        value = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return value[:200].encode("unicode_escape").decode("ascii")
