"""The image's web process: nginx in front of gunicorn, started and stopped together.

    python serve.py               # what `docker run IMAGE` (the entry point's `web`) runs
    python serve.py healthcheck   # exit 0 when /healthz answers 200 through nginx (HEALTHCHECK)

nginx takes the public port and buffers whole requests and responses (nginx.conf.template says
how and docs/benchmark.md why); gunicorn serves the app on a unix socket that only nginx uses.
This process renders nginx's configuration from the environment, starts gunicorn, waits for its
socket, starts nginx, then waits: SIGTERM or SIGINT stops both gracefully, and when either exits
on its own the other is stopped too and the container ends with an error, so Kubernetes (or
Docker's restart policy) starts a fresh one. As the container's PID 1 it also reaps orphans.

Settings (environment):
  APP_LISTEN           public address, host:port (default 0.0.0.0:8000)
  APP_TLS_CERT_FILE    with APP_TLS_KEY_FILE: serve HTTPS on APP_LISTEN (PEM files; both or neither)
  APP_TLS_KEY_FILE
  DJANGO_ADMIN_ENABLED true: the Django admin on APP_ADMIN_LISTEN (default 127.0.0.1:8001) only
  APP_MAX_BODY_BYTES   largest request body (default 16384), the same limit the app applies
  APP_UNPAGED_LISTS    unpaged user lists in progress at once (default 8; more get a 503)
  APP_RUN_DIR          folder for the sockets, the rendered config and nginx's temporary files
                       (default: a new folder in $TMPDIR or /tmp)
  GUNICORN_*, WEB_CONCURRENCY: gunicorn.conf.py
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(APP_DIR))
from demo.env import env_bool, env_int  # noqa: E402

# Limits on clients, in seconds (nginx.conf.template says what each bounds).
HEADER_TIMEOUT = 10
BODY_TIMEOUT = 10
SEND_TIMEOUT = 10
# As gunicorn's own keepalive default in gunicorn.conf.py.
KEEPALIVE_TIMEOUT = 5
WORKER_CONNECTIONS = 4096
# Idle connections nginx keeps open to gunicorn: a new one per request costs a connect and an
# accept (measured in docs/benchmark.md).
UPSTREAM_KEEPALIVE = 32
# A response larger than nginx's memory buffers goes to a temporary file up to this size, so
# gunicorn is done with it at once; beyond it gunicorn waits for the client, which only unpaged
# lists of large tables reach (api/large_lists.py; measured in docs/benchmark.md).
MAX_TEMP_FILE = "32m"
# Unpaged user lists in progress at once (more get a 503 with Retry-After): each may fill one such
# temporary file, so together they take at most 8 x 32 MiB of the pod's /tmp (app_tmp_size, 512Mi),
# which Kubernetes enforces by evicting the pod. Change the three together.
UNPAGED_LISTS = 8
GUNICORN_START_SECONDS = 60
# /usr/sbin is not on every user's PATH.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# nginx's own errors, in the app's shape. Statuses nginx answers with before the app sees anything.
NGINX_ERRORS = {
    400: (400, "Bad Request."),
    404: (404, "Not found."),
    405: (405, "Method not allowed."),
    408: (408, "Request timeout: the request did not arrive in time."),
    413: (413, "Request body too large: at most {max_body_bytes} bytes are accepted."),
    414: (414, "Request URI too long."),
    494: (431, "Request header fields too large."),
    497: (400, "This port speaks HTTPS: use https://."),
    500: (500, "Server error."),
    502: (503, "Service unavailable, retry later"),
    503: (503, "Service unavailable, retry later"),
    504: (504, "Gateway timeout: the app did not answer in time."),
}


def errors_conf(max_body_bytes: int) -> str:
    lines = []
    for code, (status, detail) in NGINX_ERRORS.items():
        body = json.dumps({"detail": detail.format(max_body_bytes=max_body_bytes)}).replace("'", "\\'")
        # A URI, not a named location: nginx cannot redirect a request whose request line it could
        # not parse to a named location.
        lines.append(f"error_page {code} ={status} /_errors/{code};")
        retry = " add_header Retry-After 1 always;" if status == 503 else ""
        lines.append(f"location = /_errors/{code} {{ internal;{retry} return {status} '{body}'; }}")
    return "\n".join(lines) + "\n"


def settings(environ: dict[str, str], run_dir: Path) -> dict:
    cert, key = environ.get("APP_TLS_CERT_FILE", "").strip(), environ.get("APP_TLS_KEY_FILE", "").strip()
    if bool(cert) != bool(key):
        raise SystemExit("serve.py: set both APP_TLS_CERT_FILE and APP_TLS_KEY_FILE, or neither")
    for path in filter(None, (cert, key)):
        if not os.access(path, os.R_OK):
            raise SystemExit(f"serve.py: {path} cannot be read (APP_TLS_CERT_FILE / APP_TLS_KEY_FILE)")
    return {
        "run_dir": run_dir,
        "listen": environ.get("APP_LISTEN", "0.0.0.0:8000"),
        "tls": bool(cert),
        "tls_cert": cert,
        "tls_key": key,
        "admin": env_bool("DJANGO_ADMIN_ENABLED", False, environ),
        "admin_listen": environ.get("APP_ADMIN_LISTEN", "127.0.0.1:8001"),
        "admin_key": secrets.token_urlsafe(32),
        "max_body_bytes": env_int("APP_MAX_BODY_BYTES", 16 * 1024, environ),
        "gunicorn_socket": run_dir / "gunicorn.sock",
        "header_timeout": HEADER_TIMEOUT,
        "body_timeout": BODY_TIMEOUT,
        "send_timeout": SEND_TIMEOUT,
        "keepalive_timeout": KEEPALIVE_TIMEOUT,
        "worker_connections": WORKER_CONNECTIONS,
        "upstream_keepalive": env_int("APP_UPSTREAM_KEEPALIVE", UPSTREAM_KEEPALIVE, environ),
        "max_temp_file": MAX_TEMP_FILE,
        "unpaged_lists": env_int("APP_UNPAGED_LISTS", UNPAGED_LISTS, environ),
        "as_root": os.geteuid() == 0,
    }


def render_nginx_conf(values: dict) -> str:
    """nginx.conf.template with its values filled in and its #if-FEATURE lines kept or dropped."""
    features = {"plain": not values["tls"], **{name: bool(value) for name, value in values.items()}}
    lines = []
    for line in (APP_DIR / "nginx.conf.template").read_text().splitlines():
        if line.startswith("#if-"):
            feature, _, line = line.removeprefix("#if-").partition(" ")
            if not features[feature]:
                continue
        lines.append(line)
    return "\n".join(lines) % values + "\n"


def write_config(values: dict) -> Path:
    run_dir: Path = values["run_dir"]
    (run_dir / "errors.conf").write_text(errors_conf(values["max_body_bytes"]))
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx_conf(values))
    return conf


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[int, tuple[str, subprocess.Popen]] = {}
        self.stopping = False

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=APP_DIR, env=env)
        self.children[process.pid] = (name, process)
        return process

    def stop(self, *_: object) -> None:
        """Graceful: nginx stops accepting and finishes its requests (SIGQUIT), gunicorn finishes
        its requests within graceful_timeout (SIGTERM)."""
        self.stopping = True
        for name, process in self.children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)

    def wait(self) -> int:
        """Reaps every child (orphans included, as PID 1); returns when the last supervised one exits."""
        status = 0
        while self.children:
            try:
                pid, raw = os.wait()
            except ChildProcessError:
                break
            if pid not in self.children:
                continue  # an orphan re-parented to this process
            name, process = self.children.pop(pid)
            process.returncode = os.waitstatus_to_exitcode(raw)
            if not self.stopping:
                print(f"serve.py: {name} exited ({process.returncode}); stopping", file=sys.stderr, flush=True)
                status = 1
                self.stop()
        return status


def wait_for_socket(path: Path, gunicorn: subprocess.Popen) -> None:
    deadline = time.monotonic() + GUNICORN_START_SECONDS
    while not path.exists():
        if gunicorn.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve.py: gunicorn did not open {path}; see its log above")
        time.sleep(0.05)


def healthcheck(environ: dict[str, str]) -> int:
    import ssl
    import urllib.request

    port = environ.get("APP_LISTEN", "0.0.0.0:8000").rsplit(":", 1)[1]
    scheme = "https" if environ.get("APP_TLS_CERT_FILE", "").strip() else "http"
    # The certificate names the service, not 127.0.0.1: this checks that the server answers.
    context = ssl._create_unverified_context() if scheme == "https" else None  # noqa: S323
    url = f"{scheme}://127.0.0.1:{port}/healthz"
    with urllib.request.urlopen(url, timeout=4, context=context) as response:  # noqa: S310
        return 0 if response.status == 200 else 1


def main() -> int:
    environ = dict(os.environ)
    if sys.argv[1:] == ["healthcheck"]:
        return healthcheck(environ)
    run_dir = Path(environ.get("APP_RUN_DIR") or tempfile.mkdtemp(prefix="demo-web-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    values = settings(environ, run_dir)
    conf = write_config(values)

    # APP_RUN_DIR: where the workers keep the slots of large lists (api/large_lists.py).
    app_env = {**environ, "GUNICORN_BIND": f"unix:{values['gunicorn_socket']}", "APP_RUN_DIR": str(run_dir)}
    if values["admin"]:
        app_env["DJANGO_ADMIN_LISTENER_KEY"] = values["admin_key"]
    if values["tls"]:
        # TLS ends at nginx, which tells the app with X-Forwarded-Proto: secure cookies, HSTS.
        app_env.setdefault("DJANGO_HTTPS", "true")

    values["gunicorn_socket"].unlink(missing_ok=True)  # left by an earlier run in the same folder
    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    gunicorn = supervisor.start(
        "gunicorn", [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "demo.wsgi:application"], app_env
    )
    try:
        wait_for_socket(values["gunicorn_socket"], gunicorn)
    except SystemExit:
        supervisor.stop()
        supervisor.wait()
        raise
    if not supervisor.stopping:
        supervisor.start("nginx", [NGINX, "-e", "stderr", "-c", str(conf)], environ)
    return supervisor.wait()


if __name__ == "__main__":
    sys.exit(main())
