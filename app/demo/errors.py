"""Every error the server answers is JSON with a `detail`, as the API's own errors are.

Django answers errors outside the API views (an unknown path, a bad Host header, a crash in a
middleware) with these handlers instead of its HTML pages (demo/urls.py installs them). The
image's front server answers its own errors (413, 408, 502...) in the same shape
(NGINX_ERRORS in serve.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("demo.errors")

DATABASE_UNAVAILABLE = "Database unavailable, retry later"


def json_error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, DisallowedHost):
        # A scanner or a misdirected client, not a fault of the server: one WARNING line, no
        # traceback (Django's own ERROR record for it is switched off in the settings).
        logger.warning("bad Host header", extra={"host": request.META.get("HTTP_HOST", ""), "path": request.path})
        return json_error(400, "Bad Request: the Host header names no host this server answers for.")
    return json_error(400, "Bad Request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "Forbidden.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    # Called inside Django's exception handling, so the exception is still current. Django has
    # already logged it with its traceback (django.request).
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        response = json_error(503, DATABASE_UNAVAILABLE)
        response["Retry-After"] = "1"
        return response
    return json_error(500, "Server error.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return json_error(403, f"CSRF verification failed: {reason}")


class BodySizeLimitMiddleware:
    """413 for a declared body over DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.

    Django enforces that limit only when a view reads `request.body`; DRF's parsers read the
    stream instead, so without this check the limit would not hold for the API. Behind the image's
    front server every body arrives with a Content-Length (it buffers chunked bodies first).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return json_error(
                413, f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes are accepted."
            )
        return self.get_response(request)
