"""`make lab` stops before creating (or installing) anything when k3s cannot be had, saying so."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import time

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


ARCH, BINARY = {"aarch64": ("arm64", "k3s-arm64")}.get(platform.machine(), ("amd64", "k3s"))


def test_stops_on_an_incomplete_airgap_dir_naming_the_missing_file(no_lab_running, tmp_path):
    result = lab({"K3S_AIRGAP_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert f"has no {BINARY}:" in result.stderr
    assert "Nothing was created." in result.stderr
    (tmp_path / BINARY).write_bytes(b"k3s")
    result = lab({"K3S_AIRGAP_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert f"has no sha256sum-{ARCH}.txt:" in result.stderr
    assert lab_objects() == ""


def test_stops_on_a_file_that_does_not_match_its_checksum(no_lab_running, tmp_path):
    (tmp_path / BINARY).write_bytes(b"a truncated download")
    images = tmp_path / f"k3s-airgap-images-{ARCH}.tar.zst"
    images.write_bytes(b"images")
    good = hashlib.sha256(b"the real binary").hexdigest()
    sums = f"{good}  {BINARY}\n{hashlib.sha256(b'images').hexdigest()}  {images.name}\n"
    (tmp_path / f"sha256sum-{ARCH}.txt").write_text(sums)
    result = lab({"K3S_AIRGAP_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert f"checksum mismatch for {tmp_path}/{BINARY}" in result.stderr
    assert good in result.stderr
    assert "Nothing was created." in result.stderr
    assert lab_objects() == ""


def test_make_lab_looks_for_k3s_before_installing_the_tools(no_lab_running, tmp_path):
    """The tools take minutes to install; without k3s, `make lab` says so before installing any."""
    venv, checkov = tmp_path / "venv", tmp_path / "venv-checkov"
    env = {k: v for k, v in os.environ.items() if k not in ("K3S_AIRGAP_DIR", "MAKEFLAGS", "MAKELEVEL")}
    env.update(HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    start = time.monotonic()
    try:
        result = subprocess.run(
            ["make", "lab", f"VENV={venv}", f"CHECKOV_VENV={checkov}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(checkov, ignore_errors=True)
    assert result.returncode != 0
    assert "neither source is available" in result.stderr
    assert "Installing the development tools" not in result.stdout + result.stderr
    assert time.monotonic() - start < 60
    assert lab_objects() == ""
