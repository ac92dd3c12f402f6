"""Sessions, authentication and messages for the admin site only.

The API is public and stateless (no DRF authentication classes), so these three middleware have
nothing to do for its requests, yet together they cost about 70 k instructions on each one
(callgrind, see the README's benchmark). CSRF protection is left as it is, for every path.

Subclasses rather than a wrapper around them: Django's admin checks (admin.E408 to admin.E410)
look for these classes in MIDDLEWARE and accept subclasses, and the middleware keep their own
ordering constraints (messages and authentication need the session first).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse

from demo.errors import not_found

# demo/urls.py mounts the admin here.
ADMIN_PATH_PREFIX = "/admin/"
# Set by the image's front server on requests of its admin listener only (serve.py); it removes
# the header from every request of the public port.
ADMIN_LISTENER_HEADER = "X-Admin-Listener"


def is_admin_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(ADMIN_PATH_PREFIX)


def admin_reachable(request: HttpRequest) -> bool:
    """The admin is enabled and this request came through the admin listener."""
    if not (settings.ADMIN_ENABLED and settings.ADMIN_LISTENER_KEY):
        return False
    presented = request.headers.get(ADMIN_LISTENER_HEADER, "")
    return hmac.compare_digest(presented.encode(), settings.ADMIN_LISTENER_KEY.encode())


class AdminOnlyMixin:
    """Runs the middleware it is mixed into for admin paths and passes any other request through."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_admin_request(request):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(AdminOnlyMixin, SessionMiddleware):
    """The first of the admin's middleware, so it also keeps the admin closed: a 404, as for any
    path that does not exist, when the admin is off or the request came through the public port."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_admin_request(request) and not admin_reachable(request):
            request.get_host()  # a bad Host header is still a 400 here, as on every other path
            return not_found(request)
        return super().__call__(request)


class AdminAuthenticationMiddleware(AdminOnlyMixin, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(AdminOnlyMixin, MessageMiddleware):
    pass
