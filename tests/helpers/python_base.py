"""The base image the app's Dockerfile builds FROM, on this machine.

APP_IMAGE_BASE when given; else the Dockerfile's default official image when it is present or can be
pulled; else (offline: only the Debian mirror answers) Debian's python3 built by
scripts/python-base-image.sh.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "python:3.13-slim-trixie"  # keep in step with the Dockerfile's PYTHON_IMAGE default


def _docker(*args: str, timeout: int = 120) -> int:
    return subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False).returncode


def base_image() -> str:
    if os.environ.get("APP_IMAGE_BASE"):
        return os.environ["APP_IMAGE_BASE"]
    if _docker("image", "inspect", DEFAULT_BASE) == 0 or _docker("pull", "-q", DEFAULT_BASE, timeout=300) == 0:
        return DEFAULT_BASE
    built = subprocess.run(
        [str(REPO / "scripts" / "python-base-image.sh")], capture_output=True, text=True, check=True, timeout=900
    )
    return built.stdout.strip().splitlines()[-1]


def image_build_args(base: str) -> dict[str, str]:
    """Build arguments the app's Dockerfile needs on this machine (empty on an ordinary one).

    PYTHON_IMAGE when the base is not the Dockerfile's default. PIP_TRUSTED_HOST where the host's pip
    needs an extra CA (a proxy that re-signs TLS, as on the offline test machines): the build's pip
    cannot verify PyPI either, and the lock's hashes still check every file.
    """
    args = {} if base == DEFAULT_BASE else {"PYTHON_IMAGE": base}
    trusted = os.environ.get("APP_IMAGE_PIP_TRUSTED_HOST")
    if trusted is None and os.environ.get("PIP_CERT"):
        trusted = "pypi.org files.pythonhosted.org"
    if trusted:
        args["PIP_TRUSTED_HOST"] = trusted
    return args
