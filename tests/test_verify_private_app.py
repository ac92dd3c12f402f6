"""playbooks/verify.yml checks a private app (app_cidrs = []) from a node, and says so.

The app is the real one (Django's development server on SQLite, on loopback). The nodes are local
connections whose public address (ansible_host) refuses connections, as a security group without the
NodePort rule would, while their private address (k3s_node_ip) answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_loopback_port
from tests.helpers.tools import ansible_tool

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_loopback_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DJANGO_SQLITE_PATH": str(tmp_path_factory.mktemp("app") / "db.sqlite3"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    manage = [sys.executable, str(REPO / "app" / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310 (loopback)
                break
            except OSError:
                time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def verify(tmp_path: Path, port: int, app_cidrs: list[str], public: str) -> subprocess.CompletedProcess[str]:
    node = {"ansible_host": public, "k3s_node_ip": "127.0.0.1"}
    inventory = {
        "k3s_cluster": {
            "children": {"server": {"hosts": {"node-1": node}}, "agent": {"hosts": {"node-2": node}}},
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "app_cidrs": app_cidrs,
            },
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return subprocess.run(
        [ansible_tool(), "-i", str(tmp_path / "inventory.yml")]
        + ["playbooks/verify.yml", "-e", f"app_node_port={port}", "-e", "app_node_port_range=1024-65535"]
        + ["-e", "verify_retries=1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_private_app_is_verified_from_a_node_and_the_output_says_so(tmp_path: Path, app_port: int) -> None:
    # 127.0.0.2: loopback, but nothing listens there; the app answers on the private 127.0.0.1 only.
    result = verify(tmp_path, app_port, app_cidrs=[], public="127.0.0.2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "The app is private (app_cidrs = [] in the inventory)" in result.stdout
    assert "the checks run on node-1" in result.stdout
    assert f"http://127.0.0.1:{app_port}/api/users/" in result.stdout


def test_a_public_app_is_still_verified_from_this_machine(tmp_path: Path, app_port: int) -> None:
    result = verify(tmp_path, app_port, app_cidrs=["0.0.0.0/0"], public="127.0.0.1")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Checking from localhost (verify_from=control)" in result.stdout
