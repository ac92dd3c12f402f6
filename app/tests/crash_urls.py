"""The app's URLs plus two views that fail, for the 500 and 503 handlers (tests/test_errors.py)."""

from demo.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401
from django.db import OperationalError
from django.urls import path


def crash(request):
    raise RuntimeError("a bug")


def database_gone(request):
    raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [path("crash/", crash), path("database-gone/", database_gone), *urlpatterns]
