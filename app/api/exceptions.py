from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


class UserAlreadyExists(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "User already exists"
    default_code = "user_exists"


def api_exception_handler(exc, context):
    """DRF's handler, with every 404 answering the documented body {"detail": "Not found."}.

    Django's get_object_or_404 words its message after the model ("No User matches the given
    query."), which DRF would pass through; clients of the original API expect the fixed text.
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return exception_handler(exc, context)
