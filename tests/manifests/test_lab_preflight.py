"""`make lab` stops before creating anything when k3s cannot be had, saying so."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import REPO


def lab(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "K3S_AIRGAP_DIR"}
    env.update(env_extra)
    return subprocess.run(
        [str(REPO / "scripts" / "lab.sh"), "up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def lab_objects() -> str:
    if shutil.which("docker") is None:
        return ""
    containers = subprocess.run(["docker", "ps", "-aq", "--filter", "name=wl-lab"], capture_output=True, text=True)
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", "name=wl-lab"], capture_output=True, text=True
    )
    return containers.stdout + networks.stdout


@pytest.fixture
def no_lab_running():
    if lab_objects():
        pytest.skip("a lab is running (wl-lab containers or network exist): cannot prove the preflight creates nothing")


def test_stops_without_internet_or_airgap(no_lab_running):
    # A dead proxy makes the download check fail the same way on a connected machine.
    result = lab({"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    assert result.returncode != 0
    assert "neither source is available" in result.stderr
    assert "K3S_AIRGAP_DIR is not set" in result.stderr
    assert "Nothing was created." in result.stderr
    assert lab_objects() == ""


def test_stops_on_an_incomplete_airgap_dir(no_lab_running, tmp_path):
    result = lab({"K3S_AIRGAP_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "lacks the k3s binary" in result.stderr
    assert "Nothing was created." in result.stderr
    assert lab_objects() == ""
