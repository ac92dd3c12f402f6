"""Liveness (/healthz) and readiness (/readyz) answered ahead of the rest of the stack.

The middleware sits before SecurityMiddleware and CommonMiddleware, which validate the Host
header: kubelet probes send the pod IP as Host, and that must not need listing in ALLOWED_HOSTS.
Host validation stays on for every other path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("demo.health")

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"


def liveness() -> JsonResponse:
    """The process serves requests. Never touches the database: a database outage must not get
    every replica restarted."""
    return JsonResponse({"status": "ok"})


def readiness() -> JsonResponse:
    """The process can serve the API, which needs the database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readiness: database unavailable", extra={"error": str(exc).strip()})
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == LIVENESS_PATH:
            return liveness()
        if path == READINESS_PATH:
            return readiness()
        return self.get_response(request)
