"""The postgres role's node-side tasks and playbooks/backup.yml and restore.yml, run for real.

ansible-playbook runs the role on this machine as the first server (connection local), with
`postgres_kubectl` pointing at the kubectl test double, so every SQL statement, Secret, rollout and
dump of the role goes to a real PostgreSQL server. The tests run in file order on one server:
converge, least privilege, idempotence, a password rotation watched by a login checker, a backup,
then a restore refused and a restore confirmed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from conftest import REPO, Pod, PsqlError, start_pod

APP = "demo-api"
APP_SECRET = "postgres-app"  # noqa: S105  (the name of the Secret, not a secret)
ROTATED_PASSWORD = "rotated-Password-0123456789"  # noqa: S105  (a test value, as given from Vault)
NODE_PLAY = """
- name: The postgres role's node-side tasks
  hosts: server[0]
  gather_facts: false
  tasks:
    - name: Converge roles, credentials and the backup job
      ansible.builtin.include_role:
        name: postgres
        tasks_from: node
"""


@dataclass
class Node:
    """The first server: its inventory, its files (program, settings, backups) and the pod behind it."""

    pod: Pod
    root: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def inventory(self) -> Path:
        path = self.root / "inventory.yml"
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "postgres_kubectl": self.pod.kubectl,
            "postgres_credentials_dir": str(self.root / "credentials"),
            "postgres_backup_destination": f"file://{self.backups}",
            "postgres_backup_schedule": "",
            "postgres_backup_program": str(self.root / "bin" / "k3s-pg-backup"),
            "postgres_backup_config_dir": str(self.root / "etc"),
            "postgres_wait_timeout": 60,
        }
        path.write_text(yaml.safe_dump({"k3s_cluster": {"children": {"server": {"hosts": {"node-1": host}}}}}))
        return path

    def play(self, playbook: str | Path, **extra: Any) -> subprocess.CompletedProcess[str]:
        (self.root / "bin").mkdir(exist_ok=True)
        variables = self.root / "extra.json"
        variables.write_text(json.dumps({**self.extra, **extra}))
        bin_dir = Path(sys.executable).parent
        env = {**self.pod.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
        env["ANSIBLE_FORCE_COLOR"] = "0"
        command = [str(bin_dir / "ansible-playbook"), "-i", str(self.inventory()), str(playbook), "-e", f"@{variables}"]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)

    def converge(self, **extra: Any) -> subprocess.CompletedProcess[str]:
        playbook = self.root / "node.yml"
        playbook.write_text(NODE_PLAY)
        return self.play(playbook, **extra)


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    line = result.stdout.split("PLAY RECAP", 1)[1].splitlines()[1]
    return {key: int(value) for key, value in (item.split("=") for item in line.split(":", 1)[1].split())}


def passed(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result


def can_log_in(pod: Pod, credentials: dict[str, str]) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1",
            port=pod.server.port,
            dbname="demo",
            user=credentials["POSTGRES_USER"],
            password=credentials["POSTGRES_PASSWORD"],
            connect_timeout=5,
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("node")
    pod = start_pod(root)
    yield Node(pod=pod, root=root)
    pod.server.stop()


def test_first_run_converges_roles_and_gives_the_app_a_login(node: Node) -> None:
    result = passed(node.converge())
    assert recap(result)["changed"] > 0
    credentials = node.pod.secret(APP_SECRET)
    assert credentials["POSTGRES_USER"] == "demo_a"
    assert credentials["POSTGRES_PASSWORD"] == (node.root / "credentials" / "postgres-app-password").read_text().strip()
    assert can_log_in(node.pod, credentials)
    assert node.pod.psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'demo_b'") == "f", "the standby is closed"
    # The password reached the server as a SCRAM verifier, never in clear.
    assert (
        node.pod.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid WHERE rolname = 'demo_a'") == "t"
    )
    assert credentials["POSTGRES_PASSWORD"] not in json.dumps(node.pod.events()), "no password on a command line"
    node.pod.add_deployment(APP, replicas=2, secret=APP_SECRET)


def test_the_app_login_is_not_a_superuser(node: Node) -> None:
    """Owner of its database, nothing more: no roles, no server settings, no other database."""
    app = node.pod.secret(APP_SECRET)
    login = {"user": app["POSTGRES_USER"], "password": app["POSTGRES_PASSWORD"]}
    node.pod.psql("CREATE TABLE migrated (id serial PRIMARY KEY)", **login)
    assert node.pod.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'migrated'") == "demo"
    assert node.pod.psql("SELECT current_user", **login) == "demo", "sessions act as the owner role"
    for statement, refusal in (
        ("CREATE ROLE intruder", "permission denied to create role"),
        ("ALTER SYSTEM SET work_mem = '1GB'", "permission denied to set parameter"),
        ("CREATE DATABASE other", "permission denied to create database"),
        ("SELECT pg_read_file('PG_VERSION')", "permission denied for function pg_read_file"),
    ):
        with pytest.raises(PsqlError, match=refusal):
            node.pod.psql(statement, **login)
    for database in ("postgres", "template1"):
        with pytest.raises(PsqlError, match=f'permission denied for database "{database}"'):
            node.pod.psql("SELECT 1", database=database, **login)
    assert node.pod.psql("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'demo'") == "f"


def test_second_run_changes_nothing(node: Node) -> None:
    assert recap(passed(node.converge()))["changed"] == 0


def test_password_rotation_keeps_the_app_able_to_log_in(node: Node) -> None:
    """A new password (as from Vault): the app can log in at every moment, old pods and new."""
    old = node.pod.secret(APP_SECRET)
    failures: list[str] = []
    checks = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal checks
        while not stop.is_set():
            for generation in node.pod.deployment(APP)["generations"]:
                if not can_log_in(node.pod, generation["credentials"]):
                    failures.append(f"{generation['credentials']['POSTGRES_USER']} refused at {time.time():.2f}")
            checks += 1
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = passed(node.converge(postgres_app_password=ROTATED_PASSWORD))
    finally:
        stop.set()
        watcher.join()

    assert failures == [], failures
    assert checks > 20, "the checker must have watched the rotation"
    new = node.pod.secret(APP_SECRET)
    assert new == {"POSTGRES_USER": "demo_b", "POSTGRES_PASSWORD": ROTATED_PASSWORD}
    assert [g["credentials"] for g in node.pod.deployment(APP)["generations"]] == [new]
    assert not can_log_in(node.pod, old), "the old password is closed once no pod uses it"
    # What the first login created still belongs to the owner: the new login can change it.
    node.pod.psql("ALTER TABLE migrated ADD COLUMN note text", user="demo_b", password=new["POSTGRES_PASSWORD"])
    verbs = [e["argv"][:2] for e in node.pod.events() if e["start"] > 0]
    order = [v for v in verbs if v in (["apply", "--server-side"], ["rollout", "restart"], ["rollout", "status"])]
    assert order[-3:] == [["apply", "--server-side"], ["rollout", "restart"], ["rollout", "status"]]
    assert recap(result)["failed"] == 0


def table_rows(pod: Pod) -> int:
    return int(pod.psql("SELECT count(*) FROM migrated"))


def test_backup_playbook_writes_a_checked_backup(node: Node) -> None:
    node.pod.psql("INSERT INTO migrated (note) SELECT 'row ' || g FROM generate_series(1, 25) g")
    result = passed(node.play("playbooks/backup.yml"))
    dumps = sorted(node.backups.glob("demo-*.dump"))
    assert len(dumps) == 1
    assert f"-e backup_name={dumps[0].name}" in result.stdout
    assert (node.backups / f"{dumps[0].name}.sha256").is_file()


def test_restore_without_confirmation_changes_nothing(node: Node) -> None:
    node.pod.psql("INSERT INTO migrated (note) VALUES ('after the backup')")
    before_rows, before_files = table_rows(node.pod), sorted(p.name for p in node.backups.rglob("*"))
    events = len(node.pod.events())
    result = node.play("playbooks/restore.yml")
    assert result.returncode != 0
    assert "Restore not confirmed; nothing was changed" in result.stdout
    assert "-e confirm=yes" in result.stdout
    assert table_rows(node.pod) == before_rows == 26
    assert sorted(p.name for p in node.backups.rglob("*")) == before_files
    writes = [e["argv"] for e in node.pod.events()[events:] if e["argv"][0] in ("scale", "apply", "rollout")]
    writes += [e["argv"] for e in node.pod.events()[events:] if "pg_restore" in e["argv"] or "pg_dump" in e["argv"]]
    assert writes == []
    assert node.pod.deployment(APP)["replicas"] == 2


def test_confirmed_restore_takes_a_safety_dump_first_and_restarts_the_app(node: Node) -> None:
    events = len(node.pod.events())
    result = passed(node.play("playbooks/restore.yml", confirm="yes"))
    assert table_rows(node.pod) == 25, "the backup's rows, not the one written after it"

    calls = node.pod.events()[events:]

    def first(predicate) -> dict[str, Any]:
        return next(e for e in calls if predicate(e["argv"]))

    stop = first(lambda argv: argv[0] == "scale" and "--replicas=0" in argv)
    safety = first(lambda argv: "pg_dump" in argv)
    restore = first(lambda argv: "pg_restore" in argv and "--clean" in argv)
    start = first(lambda argv: argv[0] == "scale" and "--replicas=2" in argv)
    assert stop["end"] <= safety["start"], "the app is stopped before the safety dump"
    assert safety["end"] <= restore["start"], "the safety dump is complete before the first write"
    assert restore["end"] <= start["start"], "the app starts after the restore"
    assert node.pod.deployment(APP)["replicas"] == 2

    (safety_dump,) = (node.backups / "pre-restore").glob("demo-*.dump")
    assert (node.backups / "pre-restore" / f"{safety_dump.name}.sha256").is_file()
    assert safety_dump.stat().st_mtime <= restore["start"]
    assert f"-e backup_name=pre-restore/{safety_dump.name}" in result.stdout
    # The safety dump holds the database as it was: 26 rows.
    program = [str(node.root / "bin" / "k3s-pg-backup"), "--config", str(node.root / "etc" / "config.json")]
    verified = subprocess.run(
        [*program, "verify", f"pre-restore/{safety_dump.name}"], env=node.pod.env, capture_output=True, text=True
    )
    assert json.loads(verified.stdout.splitlines()[-1])["tables"]["public.migrated"] == 26
