"""URLs. /healthz and /readyz are not here: core.middleware answers them before any URL resolving."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from core import views

# The admin carries the site's name (DJANGO_SITE_NAME) instead of "Django administration".
admin.site.site_header = admin.site.site_title = settings.SITE_NAME or _("Django application")
admin.site.index_title = _("Administration")

urlpatterns = [
    path("", views.landing, name="landing"),
    # Before django.contrib.auth's own: a page on GET (the header's form posts), the site's template after.
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path(settings.CSP_REPORT_PATH.strip("/") + "/", views.csp_report, name="csp_report"),
]
