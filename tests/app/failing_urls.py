"""URLconf for the 500-page test: the real URLs plus a view that fails."""

from django.urls import path

from config.urls import urlpatterns as app_urlpatterns


def boom(request):
    raise RuntimeError("deliberate failure")


urlpatterns = [*app_urlpatterns, path("boom/", boom)]
