"""The database pod played by a real PostgreSQL server, reached through the kubectl test double.

A `Pod` is a throwaway server (app/tests/throwaway_postgres.py: the installed server binaries, run as
an unprivileged user when the tests run as root) plus a state folder for kubectl_double.py that
names it demo/postgres-0. Commands that the role and k3s-pg-backup run with `kubectl exec` run here
against that server, over its socket as the image's trusted local superuser.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "app" / "tests"))

from throwaway_postgres import ThrowawayPostgres, find_bin_dir  # noqa: E402

DOUBLE = Path(__file__).with_name("kubectl_double.py")
PROGRAM = REPO / "roles" / "postgres" / "files" / "pg_backup.py"
ROLES_SQL = REPO / "roles" / "postgres" / "files" / "roles.sql"
NAMESPACE = "demo"


@dataclass
class Pod:
    server: ThrowawayPostgres
    state: Path

    @property
    def kubectl(self) -> list[str]:
        return [sys.executable, str(DOUBLE), "kubectl"]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECTL_DOUBLE_STATE": str(self.state)}

    def psql(
        self, sql: str, database: str = "demo", user: str = "postgres", password: str = "", **variables: object
    ) -> str:
        """SQL as the superuser over the socket, or as `user` over TCP with a password; `variables`
        become psql variables (:name, :'name')."""
        argv = [str(self.server.bin_dir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
        argv += ["-p", str(self.server.port)]
        for name, value in variables.items():
            argv += ["-v", f"{name}={value}"]
        if password:
            argv += ["-h", "127.0.0.1"]
        else:
            argv += ["-h", str(self.server._root)]
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
        result = subprocess.run(
            [*argv, "-U", user, "-d", database], input=sql, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise PsqlError(result.stderr.strip())
        return result.stdout.strip()

    def converge_roles(self, owner: str = "demo") -> None:
        """What the role's database_roles.yml runs, for tests that only need the roles."""
        argv = [str(self.server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.server._root)]
        argv += ["-p", str(self.server.port), "-U", "postgres", "-d", "demo"]
        argv += ["-v", f"owner={owner}", "-v", f"login_a={owner}_a", "-v", f"login_b={owner}_b"]
        subprocess.run(argv, input=ROLES_SQL.read_text(), text=True, capture_output=True, check=True)

    def secret(self, name: str) -> dict[str, str]:
        path = self.state / "objects" / NAMESPACE / "secret" / f"{name}.json"
        data = json.loads(path.read_text())["data"]
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    def deployment_path(self, name: str) -> Path:
        return self.state / "objects" / NAMESPACE / "deployment" / f"{name}.json"

    def add_deployment(self, name: str, replicas: int, secret: str) -> None:
        """The app's Deployment as the app role leaves it: its pods started with the Secret as it is now."""
        labels = {"app.kubernetes.io/name": name}
        path = self.deployment_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        generation = {"started": 0, "credentials": self.secret(secret)}
        state = {"labels": labels, "pod_labels": labels, "replicas": replicas, "secret": secret}
        path.write_text(json.dumps({**state, "generations": [generation]}))

    def deployment(self, name: str) -> dict:
        return json.loads(self.deployment_path(name).read_text())

    def events(self) -> list[dict]:
        path = self.state / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class PsqlError(RuntimeError):
    pass


def start_pod(tmp: Path, user: str = "postgres") -> Pod:
    if find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb): install postgresql (Debian) or set POSTGRES_BIN_DIR")
    server = ThrowawayPostgres(user=user).start()
    state = tmp / "kubectl-double"
    state.mkdir(parents=True)
    pod_env = {"PGHOST": str(server._root), "PGPORT": str(server.port)}
    cluster = {
        "pods": {
            f"{NAMESPACE}/postgres-0": {"containers": ["postgres"], "env": pod_env, "bin_dir": str(server.bin_dir)}
        },
        "database": {"bin_dir": str(server.bin_dir), "tcp_host": "127.0.0.1", "port": server.port, "database": "demo"},
    }
    (state / "cluster.json").write_text(json.dumps(cluster))
    return Pod(server=server, state=state)


@pytest.fixture(scope="module")
def module_pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    started = start_pod(tmp_path_factory.mktemp("pod"))
    yield started
    started.server.stop()
