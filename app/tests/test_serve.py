"""The image's web process (serve.py): nginx in front of gunicorn, TLS, the admin listener, nginx's
own errors as JSON, and the two processes living and dying together.

Needs nginx (Debian's package; the app tier installs it). The database is a migrated SQLite file:
these tests are about the server, not the queries.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn_server import APP_DIR, front_server, production_env
from throwaway_postgres import free_port
from throwaway_tls import write_self_signed

pytestmark = pytest.mark.skipif(
    not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)),
    reason="no nginx (Debian package nginx; scripts/test.sh app installs it): the image's front server is not proven",
)

sys.path.insert(0, str(APP_DIR))
import serve  # noqa: E402


@pytest.fixture(autouse=True)
def once_per_tier(db_backend: str) -> None:
    # The server runs on its own SQLite file whatever --db says: one pass of the app tier is enough.
    if db_backend == "postgres":
        pytest.skip("runs in the SQLite pass: the front server is independent of the database backend")


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'db.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=APP_DIR,
        env=production_env(url),
        check=True,
    )
    return url


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("tls"), "localhost", ("127.0.0.1",))


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None, context=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def raw_exchange(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(payload)
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass  # nginx resets a connection whose unread body it refused (413): the answer came first
    return b"".join(chunks)


def json_body(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1] if raw.startswith(b"HTTP/") else raw)


@pytest.fixture
def plain_server(database_url: str, tmp_path: Path) -> Iterator:
    with front_server(production_env(database_url), tmp_path) as server:
        yield server


def test_api_answers_through_nginx(plain_server):
    status, headers, body = call(f"{plain_server.url}/api/users/")
    assert (status, json.loads(body)) == (200, [])
    assert headers["Server"] == "nginx"  # no version: server_tokens off
    assert "X-Request-ID" in headers  # the app's own header made it through


@pytest.mark.parametrize(
    ("request_bytes", "status", "detail"),
    [
        (b"GARBAGE\r\n\r\n", 400, "Bad Request."),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "Request URI too long."),
        (b"GET /api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431, None),
        (b"GET /_errors/413 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 404, "Not found."),
        (
            b"POST /api/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000\r\n\r\n",
            413,
            "Request body too large: at most 16384 bytes are accepted.",
        ),
    ],
    ids=["malformed", "uri-too-long", "header-too-large", "internal-path", "body-too-large"],
)
def test_errors_nginx_answers_itself_are_json(plain_server, request_bytes, status, detail):
    raw = raw_exchange(plain_server.url, request_bytes)
    assert raw.startswith(f"HTTP/1.1 {status} ".encode()), raw[:200]
    assert b"Content-Type: application/json" in raw
    body = json_body(raw)
    assert body["detail"] == detail if detail else body["detail"]


def test_a_chunked_body_over_the_limit_is_413_too(plain_server):
    head = b"POST /api/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    raw = raw_exchange(plain_server.url, head + chunk * 2 + b"0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:200]


def test_bad_host_passes_through_as_the_apps_json_400(plain_server):
    status, _, body = call(f"{plain_server.url}/api/users/", headers={"Host": "evil.example"})
    assert status == 400
    assert "Host" in json.loads(body)["detail"]


@pytest.fixture(scope="module")
def big_table_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the migrated SQLite file with 200,000 users (one statement): an unpaged list of
    it (12 MB) is larger than a client's socket buffers, so a client that does not read keeps
    its request in progress in nginx."""
    path = tmp_path_factory.mktemp("big") / "db.sqlite3"
    shutil.copy(database_url.removeprefix("sqlite:///"), path)
    with sqlite3.connect(path) as db:
        db.execute(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200000) "
            "INSERT INTO api_user (dni, name) SELECT 'seed-' || n, 'Seeded user ' || n FROM g"
        )
    return f"sqlite:///{path}"


def test_unpaged_lists_in_progress_are_limited(big_table_url, tmp_path):
    """Each unpaged list may fill a temporary file of nginx's in the pod's /tmp: past
    APP_UNPAGED_LISTS in progress, the next one is a JSON 503 with Retry-After, and paging is not
    counted."""
    with front_server(production_env(big_table_url, APP_UNPAGED_LISTS="1"), tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connecting: a small window
        reader.connect((host, int(port)))
        reader.sendall(b"GET /api/users/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert reader.recv(15) == b"HTTP/1.1 200 OK"  # in progress, and now not reading
        try:
            status, headers, body = call(f"{server.url}/api/users/")
            assert status == 503
            assert headers["Retry-After"] == "1"
            assert json.loads(body) == {"detail": "Service unavailable, retry later"}
            assert call(f"{server.url}/api/users/?after=0&limit=5")[0] == 200
            assert call(f"{server.url}/api/users/?limit=5")[0] == 200
        finally:
            reader.close()
        deadline = time.monotonic() + 10
        while call(f"{server.url}/api/users/")[0] != 200:
            assert time.monotonic() < deadline, "the closed reader's list was still counted after 10 s"
            time.sleep(0.2)


def test_tls_with_a_throwaway_certificate(database_url, certificate, tmp_path):
    cert_file, key_file = certificate
    env = production_env(database_url, APP_TLS_CERT_FILE=str(cert_file), APP_TLS_KEY_FILE=str(key_file))
    with front_server(env, tmp_path, scheme="https") as server:
        trusted = ssl.create_default_context(cafile=str(cert_file))
        status, headers, body = call(f"{server.url}/api/users/", context=trusted)
        assert (status, json.loads(body)) == (200, [])
        assert headers["Strict-Transport-Security"].startswith("max-age=")  # the app knows it is behind TLS
        port = int(server.url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            trusted.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")

        # Plain HTTP on the TLS port: a JSON 400 that says what to do.
        raw = raw_exchange(server.url.replace("https://", "http://"), b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
        assert json_body(raw) == {"detail": "This port speaks HTTPS: use https://."}

        # The image's HEALTHCHECK command speaks https too.
        check = subprocess.run(
            [sys.executable, "serve.py", "healthcheck"],
            cwd=APP_DIR,
            env={**env, "APP_LISTEN": server.url.removeprefix("https://")},
            check=False,
        )
        assert check.returncode == 0


def test_tls_needs_both_files_and_readable_ones(tmp_path, certificate):
    cert_file, _ = certificate
    with pytest.raises(SystemExit, match="both APP_TLS_CERT_FILE and APP_TLS_KEY_FILE"):
        serve.settings({"APP_TLS_CERT_FILE": str(cert_file)}, tmp_path)
    with pytest.raises(SystemExit, match="cannot be read"):
        serve.settings({"APP_TLS_CERT_FILE": str(cert_file), "APP_TLS_KEY_FILE": str(tmp_path / "nope")}, tmp_path)


def test_admin_only_on_its_own_loopback_listener(database_url, tmp_path):
    admin_port = free_port("127.0.0.1")
    env = production_env(database_url, DJANGO_ADMIN_ENABLED="true", APP_ADMIN_LISTEN=f"127.0.0.1:{admin_port}")
    # The admin's pages need static files, which only the image collects: the test settings serve
    # them from the apps instead.
    env.update(DJANGO_SETTINGS_MODULE="settings_for_tests", PYTHONPATH=str(APP_DIR / "tests"))
    with front_server(env, tmp_path) as server:
        status, _, body = call(f"http://127.0.0.1:{admin_port}/admin/login/", headers={"Host": "localhost:8001"})
        assert status == 200
        assert b"csrfmiddlewaretoken" in body
        # The public port: 404, also for a client that guesses the marker header.
        for headers in ({}, {"X-Admin-Listener": "guess"}):
            status, _, body = call(f"{server.url}/admin/login/", headers=headers)
            assert (status, json.loads(body)) == (404, {"detail": "Not found."})
    rendered = (tmp_path / "nginx.conf").read_text()
    assert f"listen 127.0.0.1:{admin_port};" in rendered


def test_no_admin_listener_unless_enabled(plain_server, tmp_path):
    rendered = (tmp_path / "nginx.conf").read_text()
    assert 'X-Admin-Listener ""' in rendered
    assert "8001" not in rendered


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def program_of(pid: int) -> str:
    """nginx or gunicorn, from the process's arguments."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    if argv[1:3] == ["-m", "gunicorn"]:
        return "gunicorn"
    # nginx's master rewrites its title: "nginx: master process /usr/sbin/nginx -e stderr ...".
    return "nginx" if argv[0].startswith("nginx:") or Path(argv[0]).name == "nginx" else argv[0]


def test_sigterm_stops_both_gracefully(database_url, tmp_path):
    with front_server(production_env(database_url), tmp_path) as server:
        kids = children(server.process.pid)
        assert sorted(program_of(k) for k in kids) == ["gunicorn", "nginx"]
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=40) == 0
    for pid in kids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_when_gunicorn_dies_nginx_is_stopped_and_the_process_fails(database_url, tmp_path):
    with front_server(production_env(database_url), tmp_path) as server:
        kids = children(server.process.pid)
        assert sorted(program_of(k) for k in kids) == ["gunicorn", "nginx"], [program_of(k) for k in kids]
        (gunicorn,) = [k for k in kids if program_of(k) == "gunicorn"]
        (nginx,) = [k for k in kids if program_of(k) == "nginx"]
        os.kill(gunicorn, signal.SIGKILL)
        assert server.process.wait(timeout=40) == 1
        deadline = time.monotonic() + 10
        while Path(f"/proc/{nginx}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{nginx}").exists()
    assert any("gunicorn exited" in line for line in server.output)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("admin", [False, True], ids=["no-admin", "admin"])
@pytest.mark.parametrize("keepalive", ["32", "0"], ids=["upstream-keepalive", "no-upstream-keepalive"])
def test_every_rendered_configuration_is_one_nginx_accepts(tmp_path, certificate, tls, admin, keepalive):
    cert_file, key_file = certificate
    environ = {"APP_LISTEN": f"127.0.0.1:{free_port('127.0.0.1')}", "DJANGO_ADMIN_ENABLED": str(admin).lower()}
    environ["APP_UPSTREAM_KEEPALIVE"] = keepalive
    if tls:
        environ.update(APP_TLS_CERT_FILE=str(cert_file), APP_TLS_KEY_FILE=str(key_file))
    values = serve.settings(environ, tmp_path)
    conf = serve.write_config(values)
    rendered = conf.read_text()
    directives = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "%(" in line]
    assert not [line for line in rendered.splitlines() if line.startswith("#if-")]
    assert (" ssl " in rendered) == tls
    assert ('X-Admin-Listener "' + values["admin_key"]) in rendered if admin else values["admin_key"] not in rendered
    assert ("keepalive 32;" in rendered) == (keepalive == "32")
    check = subprocess.run([serve.NGINX, "-t", "-q", "-e", "stderr", "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_nginx_error_pages_are_valid_json_with_the_limit():
    conf = serve.errors_conf(4096)
    bodies = [line.split("'")[1].replace("\\'", "'") for line in conf.splitlines() if " return " in line]
    assert len(bodies) == len(serve.NGINX_ERRORS)
    details = [json.loads(body)["detail"] for body in bodies]
    assert "Request body too large: at most 4096 bytes are accepted." in details
    assert all(details)


def test_unpaged_lists_fit_the_pods_tmp():
    """Every unpaged list in progress may fill one temporary file; together they stay within half
    of the pod's /tmp, whose limit Kubernetes enforces by evicting the pod."""
    import yaml

    defaults = yaml.safe_load((APP_DIR.parent / "roles/app/defaults/main.yml").read_text())
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    size = defaults["app_tmp_size"]
    tmp_bytes = int(size[:-2]) * units[size[-2:]]
    temp_file_bytes = int(serve.MAX_TEMP_FILE.removesuffix("m")) * 2**20
    assert serve.UNPAGED_LISTS * temp_file_bytes <= tmp_bytes // 2
