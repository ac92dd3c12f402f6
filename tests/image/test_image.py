"""The app image, built from the repository's Dockerfile and run as the cluster would run it.

Builds with the local engine, runs the `migrate` entry point and then the web container against a
real PostgreSQL on the host (listening on the Docker bridge gateway, so containers reach it), and
drives the API through the published port. Offline (no registry) the base image is Debian's
python3 built by scripts/python-base-image.sh; elsewhere the Dockerfile's default official image.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "app" / "tests"))
sys.path.insert(0, str(REPO / "app" / "bench"))
import slow_clients  # noqa: E402
from throwaway_postgres import ThrowawayPostgres, find_bin_dir  # noqa: E402

pytestmark = pytest.mark.docker

IMAGE = "app-demo-api:test"
# A prebuilt image to test instead of building one, e.g. an older commit's, to compare.
PREBUILT_IMAGE = os.environ.get("APP_IMAGE_UNDER_TEST", "")
DEFAULT_BASE = "python:3.13-slim-trixie"  # keep in step with the Dockerfile's PYTHON_IMAGE default


def docker(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def engine() -> None:
    try:
        ready = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        ready = False
    if not ready:
        pytest.skip("no Docker engine answers (scripts/ensure-docker.sh starts one): the app image is not proven")


def base_image() -> str:
    """APP_IMAGE_BASE, else the official image when present or pullable, else a local Debian build."""
    if os.environ.get("APP_IMAGE_BASE"):
        return os.environ["APP_IMAGE_BASE"]
    if docker("image", "inspect", DEFAULT_BASE, check=False).returncode == 0:
        return DEFAULT_BASE
    if docker("pull", "-q", DEFAULT_BASE, check=False, timeout=300).returncode == 0:
        return DEFAULT_BASE
    built = subprocess.run(
        [str(REPO / "scripts" / "python-base-image.sh")], capture_output=True, text=True, check=True, timeout=900
    )
    return built.stdout.strip().splitlines()[-1]


# What the app adds to its base: the virtualenv (about 56 MB) and the code with its collected static
# files. A compiler or build dependency leaking into the runtime stage would push it well past this.
ADDED_SIZE_BUDGET_MB = 100


def image_size(name: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", name).stdout)


@pytest.fixture(scope="module")
def base(engine: None) -> str:
    return base_image()


@pytest.fixture(scope="module")
def image(base: str) -> str:
    if PREBUILT_IMAGE:
        return PREBUILT_IMAGE
    args = ["build", "--tag", IMAGE, "--build-arg", f"PYTHON_IMAGE={base}"]
    # Where the host's pip needs an extra CA (a proxy that re-signs TLS, as on the offline test
    # machines), the build's pip cannot verify PyPI either; the lock's hashes still check every file.
    trusted = os.environ.get("APP_IMAGE_PIP_TRUSTED_HOST")
    if trusted is None and os.environ.get("PIP_CERT"):
        trusted = "pypi.org files.pythonhosted.org"
    if trusted:
        args += ["--build-arg", f"PIP_TRUSTED_HOST={trusted}"]
    docker(*args, str(REPO), timeout=1200)
    return IMAGE


@pytest.fixture(scope="module")
def database(engine: None) -> Iterator[str]:
    if find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine: the image's database path is not proven")
    with ThrowawayPostgres(listen=bridge_gateway()) as server:
        yield server.url


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: containers reach host services there."""
    (config,) = json.loads(docker("network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}").stdout)
    # Some engines leave Gateway out; it is then the subnet's first address, by Docker's convention.
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def container_env(database_url: str, **extra: str) -> list[str]:
    env = {
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "WEB_CONCURRENCY": "2",
    }
    env.update(extra)
    return [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]


def call(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@contextlib.contextmanager
def web_container(image: str, env: list[str]) -> Iterator[tuple[str, str]]:
    """The image's default command on a published loopback port, once /healthz answers: (name, base URL)."""
    web = f"app-web-{secrets.token_hex(4)}"
    docker("run", "--detach", "--name", web, "--publish", "127.0.0.1::8000", *env, image)
    try:
        port = docker("port", web, "8000/tcp").stdout.split(":")[-1].strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if call("GET", f"{base}/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, docker("logs", web).stdout + docker("logs", web).stderr
            time.sleep(0.5)
        yield web, base
    finally:
        docker("rm", "--force", web, check=False)


@pytest.fixture(scope="module")
def migrated(image: str, database: str) -> list[str]:
    """The container environment for a database the image's `migrate` command has prepared."""
    env = container_env(database)
    migrate = docker(
        "run", "--rm", "--name", f"app-migrate-{secrets.token_hex(4)}", *env, image, "migrate", timeout=300
    )
    assert "Applying api.0001_initial... OK" in migrate.stdout
    return env


def test_image_serves_the_api_as_non_root(image: str, migrated: list[str]) -> None:
    with web_container(image, migrated) as (web, base):
        assert call("GET", f"{base}/readyz") == (200, {"status": "ok", "database": "ok"})
        status, created = call("POST", f"{base}/api/users/", {"dni": "0912345678", "name": "Ada"})
        assert status == 201
        assert created == {"id": created["id"], "dni": "0912345678", "name": "Ada"}
        assert call("POST", f"{base}/api/users/", {"dni": "0912345678", "name": "Ada"}) == (
            400,
            {"detail": "User already exists"},
        )
        assert call("GET", f"{base}/api/users/") == (200, [created])
        assert call("GET", f"{base}/api/users/{created['id']}/") == (200, created)
        assert call("GET", f"{base}/api/users/999999/") == (404, {"detail": "Not found."})

        # Static files were collected at build time and are served by the app (WhiteNoise).
        with urllib.request.urlopen(f"{base}/static/admin/css/base.css", timeout=10) as static:  # noqa: S310
            assert static.status == 200

        # Errors are JSON, whether nginx or the app answers them; the admin is off.
        assert call("GET", f"{base}/admin/") == (404, {"detail": "Not found."})
        assert call("POST", f"{base}/api/users/", {"dni": "1", "name": "x" * 20000})[0] == 413

        # Every server process (serve.py as PID 1, gunicorn, nginx), not just `docker exec`'s user.
        uids = docker("exec", web, "sh", "-c", "grep -h '^Uid:' /proc/[0-9]*/status").stdout.split()
        assert {uid for uid in uids if uid != "Uid:"} == {"10001"}, uids
        assert docker("inspect", "--format", "{{.Config.User}}", web).stdout.strip() == "10001:10001"

        # The image's own HEALTHCHECK command succeeds against the running server.
        healthcheck = json.loads(docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", web).stdout)
        assert healthcheck[0] == "CMD"
        docker("exec", web, *healthcheck[1:])

        logs = docker("logs", web).stdout.splitlines()
        access = [json.loads(line) for line in logs if '"demo.access"' in line]
        assert {"request_id", "method", "path", "status", "duration_ms"} <= set(access[-1])


def test_final_stage_has_no_compiler_or_pip(image: str) -> None:
    found = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "command -v gcc cc make pip || true").stdout
    assert found.strip() == ""


def test_image_adds_little_to_its_base(image: str, base: str, capsys: pytest.CaptureFixture) -> None:
    size, base_size = image_size(image), image_size(base)
    added_mb = (size - base_size) / 1e6
    with capsys.disabled():  # the size is reported on every run, not only on failure
        print(
            f"\napp image {image}: {size / 1e6:.0f} MB = base {base} {base_size / 1e6:.0f} MB + app {added_mb:.0f} MB"
        )
    assert added_mb <= ADDED_SIZE_BUDGET_MB


def test_admin_answers_only_inside_the_container(image: str, migrated: list[str]) -> None:
    """Enabled, the admin listens on the container's loopback (what `kubectl port-forward` reaches),
    and the published port still answers 404."""
    with web_container(image, [*migrated, "--env", "DJANGO_ADMIN_ENABLED=true"]) as (web, base):
        assert call("GET", f"{base}/admin/login/") == (404, {"detail": "Not found."})
        inside = (
            "import urllib.request as u; r = u.Request('http://127.0.0.1:8001/admin/login/', "
            "headers={'Host': 'localhost:8001'}); print(u.urlopen(r, timeout=10).status)"
        )
        assert docker("exec", web, "python", "-c", inside).stdout.strip() == "200"


# nginx's limits (app/serve.py): a header must be complete within 10 s; a body may pause 10 s.
CLIENT_TIMEOUT_SECONDS = 10
SLOW_CONNECTIONS = 200


def test_slow_clients_cannot_starve_the_server(image: str, migrated: list[str], capsys: pytest.CaptureFixture) -> None:
    """200 connections trickle a header (a byte a second) or a body (a byte every 15 s, slower than
    the 10 s nginx allows between two reads) while a normal client keeps calling /healthz and a
    retrieve: every call is answered within 1 s, and every slow connection is closed by the server."""
    with web_container(image, migrated) as (_, base):
        status, user = call("POST", f"{base}/api/users/", {"dni": "SLOW-PROBE", "name": "Probe"})
        assert status == 201
        report = asyncio.run(
            slow_clients.run(
                base,
                connections=SLOW_CONNECTIONS,
                seconds=2 * CLIENT_TIMEOUT_SECONDS + 5,
                pace=1.0,
                body_pace=15.0,
                probes=("/healthz", f"/api/users/{user['id']}/"),
            )
        )
    summary = report.summary()
    with capsys.disabled():  # the figures are reported on every run, not only on failure
        print(f"\nslow clients against {image}: {summary}")
    assert summary["refused"] == 0
    assert summary["probes"] >= 10
    assert report.failed_probes == []
    assert summary["probe_max_s"] < 1.0
    assert summary["still_open"] == 0
    assert summary["closed_after_max_s"] <= CLIENT_TIMEOUT_SECONDS + 3
