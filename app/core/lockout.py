"""What django-axes leaves to the project: who the client is, and what a locked-out client sees."""

import ipaddress

from django.conf import settings
from django.shortcuts import render


def client_ip(request):
    """The address a lock is keyed on: nginx's X-Real-IP when the request came from a trusted proxy
    (settings.TRUSTED_PROXIES, or gunicorn's Unix socket, which only nginx shares), else the TCP peer.
    Anyone else's X-Real-IP is ignored, so a guesser cannot pick a fresh address per attempt, nor lock out
    somebody else's."""
    peer = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_REAL_IP", "").strip()
    if forwarded and _is_trusted(peer):
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return peer


def _is_trusted(address):
    # gunicorn gives a Unix socket peer an empty REMOTE_ADDR; in the stack only nginx reaches that socket.
    if address == "":
        return True
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(peer in network for network in settings.TRUSTED_PROXIES)


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After and a translated page saying when to try again."""
    cooloff = settings.AXES_COOLOFF_TIME
    response = render(
        request,
        "core/lockout.html",
        {"cooloff_minutes": int(cooloff.total_seconds() // 60)},
        status=429,
    )
    response["Retry-After"] = str(int(cooloff.total_seconds()))
    response["Cache-Control"] = "no-store"
    return response
