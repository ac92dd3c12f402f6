import logging

from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

logger = logging.getLogger("api")


class UserAlreadyExists(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "User already exists"
    default_code = "user_exists"


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Database unavailable, retry later"
    default_code = "database_unavailable"


# Seconds a client should wait before retrying a 503: by then Django has dropped the broken
# connection (it does so at the end of the failed request) and the next request opens a new one.
RETRY_AFTER_SECONDS = 1


def api_exception_handler(exc, context):
    """DRF's handler, plus two mappings.

    Every 404 answers the documented body {"detail": "Not found."}: Django's get_object_or_404
    words its message after the model ("No User matches the given query."), which DRF would pass
    through; clients of the original API expect the fixed text.

    A lost database connection is a 503 with Retry-After, not a 500: the server is healthy and the
    request can be repeated. It happens when PostgreSQL restarts under a reused connection
    (CONN_HEALTH_CHECKS is off by default, see demo/env.py) or while it is down.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", str(exc).strip())
        response = exception_handler(DatabaseUnavailable(), context)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return exception_handler(exc, context)
