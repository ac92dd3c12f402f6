"""Database selection for the app suite: SQLite in memory, or a real PostgreSQL.

`--db=postgres` reuses the server that DATABASE_URL / POSTGRES_HOST name (CI services, a laptop's
own server); otherwise it starts a throwaway one from the installed binaries for the session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from throwaway_postgres import ThrowawayPostgres, find_bin_dir


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


@pytest.fixture
def postgres_url(db_backend: str) -> str:
    """A URL for the test database, for processes outside pytest (gunicorn). Needs a db fixture
    or mark in the test so the test database exists."""
    from django.db import connection

    assert db_backend == "postgres", "mark the test with @pytest.mark.postgres"
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
