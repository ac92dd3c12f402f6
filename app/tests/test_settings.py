"""Settings from the environment: typed parsing, required secret, production checks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from demo.env import database_config, env_bool, env_int, env_list
from django.core.exceptions import ImproperlyConfigured
from gunicorn_server import APP_DIR, production_env


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("True", True), ("1", True), ("yes", True), (" on ", True)]
    + [("false", False), ("False", False), ("0", False), ("no", False), ("off", False), ("", False)],
)
def test_env_bool_parses_the_usual_spellings(raw, expected):
    assert env_bool("DJANGO_DEBUG", default=not expected, environ={"DJANGO_DEBUG": raw}) is expected


def test_env_bool_default_when_unset():
    assert env_bool("DJANGO_DEBUG", default=False, environ={}) is False


@pytest.mark.parametrize("raw", ["Flase", "2", "enabled"])
def test_env_bool_rejects_anything_else(raw):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        env_bool("DJANGO_DEBUG", default=False, environ={"DJANGO_DEBUG": raw})


def test_env_int_and_list():
    assert env_int("N", 3, environ={}) == 3
    assert env_int("N", 3, environ={"N": " 7 "}) == 7
    with pytest.raises(ImproperlyConfigured, match="N='x'"):
        env_int("N", 3, environ={"N": "x"})
    assert env_list("HOSTS", ["a"], environ={}) == ["a"]
    assert env_list("HOSTS", ["a"], environ={"HOSTS": " api.example.com, ,10.0.0.1 "}) == [
        "api.example.com",
        "10.0.0.1",
    ]


def test_database_from_url():
    config = database_config({"DATABASE_URL": "postgres://u:p%40ss@db:5433/demo", "DJANGO_CONN_MAX_AGE": "30"})
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "db",
        5433,
        "demo",
        "u",
        "p@ss",
    )
    assert config["CONN_MAX_AGE"] == 30
    assert config["CONN_HEALTH_CHECKS"] is False  # a round trip per request; see demo/env.py
    assert config["OPTIONS"]["connect_timeout"] == 5


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_connection_health_checks_can_be_switched(raw, expected):
    config = database_config({"DATABASE_URL": "postgres://u:p@db/demo", "DJANGO_CONN_HEALTH_CHECKS": raw})
    assert config["CONN_HEALTH_CHECKS"] is expected


def test_database_from_postgres_variables():
    config = database_config(
        {"POSTGRES_HOST": "postgres", "POSTGRES_DB": "app", "POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "postgres",
        "5432",
        "app",
        "app",
        "pw",
    )
    assert config["CONN_MAX_AGE"] == 60


def test_no_database_configured():
    assert database_config({}) is None


def test_unparsable_database_url():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_config({"DATABASE_URL": "nosuchscheme://x"})


def settings_probe(env: dict[str, str], expression: str = "settings.DEBUG") -> subprocess.CompletedProcess:
    """Import the real settings module in a fresh interpreter with exactly this environment."""
    code = f"import django; from django.conf import settings; django.setup(); print(repr({expression}))"
    return subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True)


PROD = production_env("postgres://demo:pw@db.invalid:5432/demo")


def test_debug_string_false_means_off():
    """The original app read DJANGO_DEBUG="False" as on."""
    result = settings_probe({**PROD, "DJANGO_DEBUG": "False"})
    assert result.stdout.strip() == "False", result.stderr


def test_debug_is_off_by_default():
    assert settings_probe(PROD).stdout.strip() == "False"


def test_secret_key_is_required_without_debug():
    env = {key: value for key, value in PROD.items() if key != "DJANGO_SECRET_KEY"}
    result = settings_probe(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_debug_runs_without_secret_key_and_database_on_sqlite():
    env = {key: value for key, value in PROD.items() if key not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    result = settings_probe({**env, "DJANGO_DEBUG": "true"}, "settings.DATABASES['default']['ENGINE']")
    assert result.stdout.strip() == "'django.db.backends.sqlite3'", result.stderr


def test_production_refuses_the_sqlite_fallback():
    env = {key: value for key, value in PROD.items() if key != "DATABASE_URL"}
    result = settings_probe(env)
    assert result.returncode != 0
    assert "No database configured" in result.stderr


def test_postgres_variables_configure_the_database():
    env = {key: value for key, value in PROD.items() if key != "DATABASE_URL"}
    result = settings_probe(
        {**env, "POSTGRES_HOST": "pg", "POSTGRES_PORT": "6543"}, "settings.DATABASES['default']['PORT']"
    )
    assert result.stdout.strip() == "'6543'", result.stderr


def test_allowed_hosts_from_the_environment():
    result = settings_probe({**PROD, "DJANGO_ALLOWED_HOSTS": "api.example.com,10.0.0.5"}, "settings.ALLOWED_HOSTS")
    assert result.stdout.strip() == "['api.example.com', '10.0.0.5']"


@pytest.mark.parametrize("https", ["false", "true"])
def test_check_deploy_is_clean_with_production_settings(https):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=APP_DIR,
        env={**PROD, "DJANGO_HTTPS": https},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
