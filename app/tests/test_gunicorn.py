"""The app under gunicorn with production settings: probes, JSON access log on stdout."""

from __future__ import annotations

import json
import runpy
import urllib.error
import urllib.request

import pytest
from gunicorn_server import APP_DIR, gunicorn, production_env
from throwaway_postgres import free_port


def get(url: str, host: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310  (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body.startswith(b"{") else {}


def test_probes_with_the_database_down_and_json_access_log_on_stdout():
    unused = free_port("127.0.0.1")
    env = production_env(f"postgres://demo:secret@127.0.0.1:{unused}/demo", POSTGRES_CONNECT_TIMEOUT="2")
    with gunicorn(env) as server:
        assert get(f"{server.url}/healthz", host="10.42.0.7:8000") == (200, {"status": "ok"})
        assert get(f"{server.url}/readyz", host="10.42.0.7:8000") == (
            503,
            {"status": "unavailable", "database": "unreachable"},
        )
        assert get(f"{server.url}/api/users/", host="10.42.0.7:8000")[0] == 400
    access = [json.loads(line) for line in server.output if '"demo.access"' in line]
    assert [(line["path"], line["status"]) for line in access[-3:]] == [
        ("/healthz", 200),
        ("/readyz", 503),
        ("/api/users/", 400),
    ]
    assert all(line["request_id"] and line["method"] == "GET" and line["duration_ms"] >= 0 for line in access)
    assert "secret" not in "\n".join(server.output)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_readiness_with_postgres_up(postgres_url):
    with gunicorn(production_env(postgres_url)) as server:
        assert get(f"{server.url}/readyz", host="10.42.0.7:8000") == (200, {"status": "ok", "database": "ok"})


def load_gunicorn_config(monkeypatch, **env: str) -> dict:
    for name in ("WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(APP_DIR / "gunicorn.conf.py"))


def test_gunicorn_config_defaults(monkeypatch):
    config = load_gunicorn_config(monkeypatch)
    assert config["bind"] == "0.0.0.0:8000"
    assert (config["workers"], config["worker_class"], config["threads"]) == (2, "gthread", 1)
    assert config["worker_tmp_dir"] == "/dev/shm"  # noqa: S108  (memory, not the overlay filesystem)
    assert config["graceful_timeout"] < 30  # below Kubernetes' default terminationGracePeriodSeconds
    assert config["preload_app"] is True
    assert config["max_requests"] == 0  # recycling unbalances kept-alive load (README, benchmark)


def test_worker_recycling_is_opt_in_with_jitter(monkeypatch):
    config = load_gunicorn_config(monkeypatch, GUNICORN_MAX_REQUESTS="5000")
    assert (config["max_requests"], config["max_requests_jitter"]) == (5000, 500)


def test_gunicorn_config_from_environment(monkeypatch):
    config = load_gunicorn_config(monkeypatch, WEB_CONCURRENCY="5", GUNICORN_WORKER_CLASS="sync")
    assert (config["workers"], config["worker_class"]) == (5, "sync")


def terminate_other_connections() -> int:
    """What a database restart does to the app's persistent connections: the server ends them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return sum(1 for (terminated,) in cursor.fetchall() if terminated)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_is_503_and_the_next_request_reconnects(postgres_url):
    from api.models import User

    user = User.objects.create(dni="lost-conn", name="Survivor")
    expected = {"id": user.id, "dni": "lost-conn", "name": "Survivor"}
    with gunicorn(production_env(postgres_url), workers=1, threads=1) as server:
        url = f"{server.url}/api/users/{user.id}/"
        assert get(url) == (200, expected)  # the worker now holds a persistent connection
        assert terminate_other_connections() == 1
        with pytest.raises(urllib.error.HTTPError) as lost:
            urllib.request.urlopen(url, timeout=10)  # noqa: S310  (loopback)
        assert lost.value.code == 503
        assert lost.value.headers["Retry-After"] == "1"
        assert json.loads(lost.value.read()) == {"detail": "Database unavailable, retry later"}
        assert get(url) == (200, expected)
    assert not [line for line in server.output if "Traceback" in line]
