"""Run the app under gunicorn with its real config, alone or behind the image's front server
(serve.py), for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import ssl
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
def _running(command: list[str], env: dict[str, str], url: str, name: str) -> Iterator[RunningServer]:
    """Start `command`, wait until `url`/healthz answers, yield it, then stop it and keep its output."""
    process = subprocess.Popen(
        command, cwd=APP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = RunningServer(url=url, process=process)
    # Throwaway certificates in tests: the server's answer is under test, not the chain.
    context = ssl._create_unverified_context() if url.startswith("https") else None  # noqa: S323
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2, context=context):  # noqa: S310  (loopback)
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"{name} did not start:\n{process.communicate()[0]}") from None
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            out, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        server.output.extend(out.splitlines())


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
    with _running(command, env, f"http://127.0.0.1:{port}", "gunicorn") as server:
        yield server


@contextlib.contextmanager
def front_server(env: dict[str, str], run_dir: Path, scheme: str = "http") -> Iterator[RunningServer]:
    """The image's web process (serve.py: nginx in front of gunicorn) on a free loopback port."""
    port = free_port("127.0.0.1")
    env = {**env, "APP_LISTEN": f"127.0.0.1:{port}", "APP_RUN_DIR": str(run_dir), "WEB_CONCURRENCY": "1"}
    with _running([sys.executable, "serve.py"], env, f"{scheme}://127.0.0.1:{port}", "serve.py") as server:
        yield server
