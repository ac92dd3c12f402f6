"""Liveness and readiness, and that only they bypass host validation (kubelet sends the pod IP)."""

from __future__ import annotations

import pytest

POD_IP_HOST = "10.42.0.7:8000"  # not in DJANGO_ALLOWED_HOSTS


def test_liveness_answers_without_the_database(client):
    # No django_db mark: pytest-django makes any database access in this test an error.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_queries_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/healthz/", "/readyz/"])
def test_probes_answer_a_pod_ip_host(client, path):
    assert client.get(path, HTTP_HOST=POD_IP_HOST).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/users/", "/api/", "/admin/login/"])
def test_other_paths_still_validate_the_host(client, path):
    assert client.get(path, HTTP_HOST=POD_IP_HOST).status_code == 400


def test_readiness_is_503_when_the_database_is_down(client, monkeypatch, django_db_blocker):
    """In-process: the connection points at a port where nothing listens (no mock of Django)."""
    from django.db import connection

    broken = {**connection.settings_dict}
    broken.update(
        ENGINE="django.db.backends.postgresql", HOST="127.0.0.1", PORT="1", NAME="x", OPTIONS={"connect_timeout": 2}
    )
    from django.db.backends.postgresql.base import DatabaseWrapper

    down = DatabaseWrapper(broken, alias="default")
    monkeypatch.setattr("demo.health.connection", down)
    with django_db_blocker.unblock():
        response = client.get("/readyz", HTTP_HOST=POD_IP_HOST)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert client.get("/healthz", HTTP_HOST=POD_IP_HOST).status_code == 200


@pytest.mark.django_db
def test_probes_are_not_redirected_to_https(client, settings):
    """With DJANGO_HTTPS=true plain-HTTP requests are redirected, but kubelet probes speak HTTP."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST=POD_IP_HOST).status_code == 200
    assert client.get("/readyz", HTTP_HOST=POD_IP_HOST).status_code == 200
    assert client.get("/api/users/").status_code == 301
