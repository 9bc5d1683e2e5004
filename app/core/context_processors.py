from django.conf import settings
from django.utils.translation import gettext_lazy as _


def site(request):
    """`site_name` for every template: DJANGO_SITE_NAME, or the translated default."""
    return {"site_name": settings.SITE_NAME or _("Django application")}
