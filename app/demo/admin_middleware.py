"""Sessions, authentication and messages for the admin site only.

The API is public and stateless (no DRF authentication classes), so these three middleware have
nothing to do for its requests, yet together they cost about 70 k instructions on each one
(callgrind, see the README's benchmark). CSRF protection is left as it is, for every path.

Subclasses rather than a wrapper around them: Django's admin checks (admin.E408 to admin.E410)
look for these classes in MIDDLEWARE and accept subclasses, and the middleware keep their own
ordering constraints (messages and authentication need the session first).
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse

# demo/urls.py mounts the admin here.
ADMIN_PATH_PREFIX = "/admin/"


def is_admin_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(ADMIN_PATH_PREFIX)


class AdminOnlyMixin:
    """Runs the middleware it is mixed into for admin paths and passes any other request through."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_admin_request(request):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(AdminOnlyMixin, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(AdminOnlyMixin, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(AdminOnlyMixin, MessageMiddleware):
    pass
