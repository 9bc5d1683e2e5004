"""URLs. /healthz and /readyz are not here: core.middleware answers them before any URL resolving."""

from django.contrib import admin
from django.urls import include, path

from core import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
