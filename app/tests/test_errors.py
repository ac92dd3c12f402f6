"""Every error is JSON with a `detail`, never Django's HTML pages; a bad Host header is one WARNING."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body.get("detail"), str)
    assert body["detail"]
    return body


@pytest.mark.parametrize("path", ["/", "/nope", "/api/nope/", "/static/missing.css", "/api/users/1/extra/"])
def test_unknown_path_is_json_404(client, path):
    assert assert_json_error(client.get(path), 404) == {"detail": "Not found."}


@pytest.mark.parametrize(("method", "path"), [("post", "/api/"), ("delete", "/api/users/"), ("put", "/api/users/")])
def test_method_not_allowed_is_json_405(client, method, path):
    assert_json_error(getattr(client, method)(path), 405)


def test_body_over_the_limit_is_json_413_before_anything_reads_it(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"dni": "1", "name": "' + "x" * 1100 + '"}'
    assert_json_error(client.post("/api/users/", body, content_type="application/json"), 413)
    # At the limit it is an ordinary request again (400 here: the name is too long).
    body = '{"dni": "1", "name": "' + "x" * 900 + '"}'
    assert client.post("/api/users/", body, content_type="application/json").status_code == 400


def test_default_body_limit_is_16_kib(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 16 * 1024


@pytest.mark.parametrize("path", ["/api/users/", "/nope", "/admin/"])
def test_bad_host_is_json_400_and_one_warning_without_traceback(client, caplog, path):
    caplog.set_level(logging.DEBUG)
    body = assert_json_error(client.get(path, HTTP_HOST="evil.example"), 400)
    assert "Host" in body["detail"]
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.getMessage()) for r in problems] == [("demo.errors", "WARNING", "bad Host header")]
    assert problems[0].exc_info is None
    assert problems[0].host == "evil.example"


def test_server_error_is_json_500_and_logged_with_its_traceback(settings, caplog):
    settings.ROOT_URLCONF = "crash_urls"
    response = Client(raise_request_exception=False).get("/crash/")
    assert assert_json_error(response, 500) == {"detail": "Server error."}
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None  # a real fault keeps its traceback in the log


def test_database_error_outside_the_api_is_json_503_with_retry_after(settings):
    settings.ROOT_URLCONF = "crash_urls"
    response = Client(raise_request_exception=False).get("/database-gone/")
    assert assert_json_error(response, 503) == {"detail": "Database unavailable, retry later"}
    assert response["Retry-After"] == "1"


def test_csrf_failure_is_json_403(settings, django_user_model):
    settings.ADMIN_ENABLED, settings.ADMIN_LISTENER_KEY = True, "k"
    browser = Client(enforce_csrf_checks=True, headers={"X-Admin-Listener": "k"})
    body = assert_json_error(browser.post("/admin/login/", {"username": "a", "password": "b"}), 403)
    assert body["detail"].startswith("CSRF verification failed")
