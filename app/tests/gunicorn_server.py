"""Run the app under gunicorn with its real config, as the image does, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from throwaway_postgres import free_port

APP_DIR = Path(__file__).resolve().parent.parent


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "POSTGRES_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings",
        DJANGO_SECRET_KEY="tests-only-not-a-secret-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int = 1, threads: int = 2) -> Iterator[RunningServer]:
    port = free_port("127.0.0.1")
    command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "demo.wsgi:application"]
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
    }
    process = subprocess.Popen(
        command, cwd=APP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = RunningServer(url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):  # noqa: S310  (loopback)
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{process.communicate()[0]}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        server.output.extend(out.splitlines())
