from django.contrib.auth import get_user_model
from django.shortcuts import render


def landing(request):
    # The page's only database query; the template must not touch `user` (session and user lookups).
    return render(request, "core/landing.html", {"user_count": get_user_model().objects.count()})
