"""Typed readers for settings that come from the environment (12-factor).

They fail loudly on values they cannot parse: a typo such as DJANGO_DEBUG=Flase must stop the
process, not silently switch debug on (the original app treated every non-empty string as true).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off")


def env_int(name: str, default: int, environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """A comma-separated list; blanks around items are ignored."""
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """The default database from DATABASE_URL, or from POSTGRES_* variables; None when neither is set."""
    conn_max_age = env_int("DJANGO_CONN_MAX_AGE", 60, environ)
    # Off by default: the check is a second round trip on every request (a retrieve makes one
    # query), and without it the first request on a connection broken by a database restart gets
    # a 503 with Retry-After (api/exceptions.py) while Django reconnects for the next one.
    # DJANGO_CONN_HEALTH_CHECKS=true trades that throughput for no error at all.
    health_checks = env_bool("DJANGO_CONN_HEALTH_CHECKS", False, environ)
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=health_checks)
        except ValueError as exc:
            raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    elif environ.get("POSTGRES_HOST", "").strip():
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": environ["POSTGRES_HOST"].strip(),
            "PORT": str(env_int("POSTGRES_PORT", 5432, environ)),
            "NAME": environ.get("POSTGRES_DB", "demo"),
            "USER": environ.get("POSTGRES_USER", "demo"),
            "PASSWORD": environ.get("POSTGRES_PASSWORD", ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": health_checks,
        }
    else:
        return None
    if config["ENGINE"] == "django.db.backends.postgresql":
        # A readiness probe must fail fast when the server is unreachable, not hang until the
        # kernel gives up on the TCP handshake.
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", env_int("POSTGRES_CONNECT_TIMEOUT", 5, environ))
    return config
