"""A private PostgreSQL server for tests and the benchmark, started from the installed binaries.

initdb and pg_ctl refuse to run as root, and CI runs as root: the server then runs as an
unprivileged user (`nobody`, via runuser). Everything lives in one temporary directory (data,
unix socket, log) that stop() removes. Used by the app tests, the image test and `make bench`.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def find_bin_dir() -> Path | None:
    """POSTGRES_BIN_DIR, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if os.environ.get("POSTGRES_BIN_DIR"):
        candidates.append(os.environ["POSTGRES_BIN_DIR"])
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    return None


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    """`listen` is the TCP address (127.0.0.1, or a docker bridge gateway for containers).
    `durable=False` turns fsync off: fine for tests, wrong for a benchmark of writes."""

    listen: str = "127.0.0.1"
    durable: bool = False
    database: str = "demo"
    user: str = "postgres"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = 0
    bin_dir: Path | None = None
    _root: Path | None = None
    _run_as: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgres://{self.user}:{self.password}@{self.listen}:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        # runuser resets the working directory only if asked; start from one `nobody` can read.
        result = subprocess.run([*self._run_as, *args], cwd=self._root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self._root / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}")

    def start(self) -> ThrowawayPostgres:
        self.bin_dir = self.bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError(
                "no PostgreSQL server binaries (initdb) found; install postgresql or set POSTGRES_BIN_DIR"
            )
        self.port = self.port or free_port(self.listen)
        self._root = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self._root, nobody.pw_uid, nobody.pw_gid)
            self._run_as = ["runuser", "-u", "nobody", "--"]
        pwfile = self._root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._run_as:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        data = self._root / "data"
        self._run(
            str(self.bin_dir / "initdb"),
            f"--pgdata={data}",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        # Password authentication from any address that can reach `listen` (containers on a bridge).
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        options = [f"-c listen_addresses={self.listen}", f"-p {self.port}", f"-k {self._root}"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin_dir / "pg_ctl"),
            f"--pgdata={data}",
            f"--log={self._root / 'postgres.log'}",
            "--wait",
            "--timeout=60",
            f"--options={' '.join(options)}",
            "start",
        )
        self._run(
            str(self.bin_dir / "createdb"),
            f"--host={self._root}",
            f"--port={self.port}",
            f"--username={self.user}",
            self.database,
        )
        return self

    def stop(self) -> None:
        if self._root is None:
            return
        if (self._root / "data" / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), f"--pgdata={self._root / 'data'}", "--mode=fast", "--wait", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
