"""Database selection for the app suite: SQLite in memory, or a real PostgreSQL.

`--db=postgres` reuses the server that DATABASE_URL / POSTGRES_HOST name (CI services, a laptop's
own server); otherwise it starts a throwaway one from the installed binaries for the session.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from gunicorn_server import APP_DIR, production_env
from seed import seed_users
from throwaway_postgres import ThrowawayPostgres, find_bin_dir

# Users in big_table_url's database: enough that a response held in memory would show in a
# worker's peak RSS (about 90 MB on the code before streaming) and that one response is larger
# than the kernel's socket buffers on loopback.
BIG_TABLE_ROWS = 200_000


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default=os.environ.get("APP_TEST_DB", "sqlite"),
        help="database backend for the app tests (default: $APP_TEST_DB or sqlite)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"app database backend: {config.getoption('--db')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db") == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with --db=postgres (the app tier runs both backends)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def db_backend(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(db_backend: str) -> Iterator[None]:
    """Point the default database at the chosen backend before pytest-django creates the test DB."""
    from django.conf import settings
    from django.db import connections

    default = settings.DATABASES["default"]
    server = None
    if db_backend == "sqlite":
        default.update(ENGINE="django.db.backends.sqlite3", NAME=":memory:", OPTIONS={})
    elif default["ENGINE"] != "django.db.backends.postgresql":
        if find_bin_dir() is None:
            pytest.fail("--db=postgres: no DATABASE_URL/POSTGRES_HOST and no PostgreSQL server binaries to start one")
        server = ThrowawayPostgres().start()
        default.update(
            ENGINE="django.db.backends.postgresql",
            HOST=server.listen,
            PORT=str(server.port),
            NAME=server.database,
            USER=server.user,
            PASSWORD=server.password,
            OPTIONS={"connect_timeout": 5},
        )
    # A connection created from the placeholder settings would keep pointing at them.
    with contextlib.suppress(AttributeError):
        del connections["default"]
    yield
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def big_table_url(db_backend: str, django_db_setup, django_db_blocker) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL, migrated and holding BIG_TABLE_ROWS
    users, committed, for the app in other processes (a subprocess, gunicorn, serve.py). Made
    once per session; the tests' own database stays empty between tests."""
    import psycopg2
    from django.db import connection

    assert db_backend == "postgres", "mark the test with @pytest.mark.postgres"
    with django_db_blocker.unblock():
        s = connection.settings_dict
    server = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}"
    name = f"{s['NAME']}_big_table"

    def run(statement: str) -> None:
        # A connection per statement: tests terminate the other connections of the server.
        admin = psycopg2.connect(f"{server}/postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute(statement)
        finally:
            admin.close()

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    try:
        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
        subprocess.run(migrate, cwd=APP_DIR, env=production_env(url), check=True)
        seed_users(url, BIG_TABLE_ROWS)
        yield url
    finally:
        run(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(db_backend: str) -> str:
    """A URL for the test database, for processes outside pytest (gunicorn). Needs a db fixture
    or mark in the test so the test database exists."""
    from django.db import connection

    assert db_backend == "postgres", "mark the test with @pytest.mark.postgres"
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture(autouse=True)
def _close_streamed_responses(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closes every streaming response a test's client got, before the test's fixtures are torn
    down. A WSGI server always closes a response; Django's test client does so only when the body
    is read to its end, and an unread streamed list keeps its cursor's transaction (a savepoint
    inside the test's) open, which would leak the test's rows into the next test. A finalizer
    added during the test runs before those of the fixtures set up for it (the db one included)."""
    from django.test.client import Client

    send = Client.request

    def closing_streamed(self, **kwargs):
        response = send(self, **kwargs)
        if response.streaming:
            request.node.addfinalizer(response.close)
        return response

    monkeypatch.setattr(Client, "request", closing_streamed)
