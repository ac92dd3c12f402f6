"""The project's command-line tools as the tests call them: the virtualenv's first, else PATH's."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def ansible_tool(name: str = "ansible-playbook") -> str:
    """ansible-playbook (or another ansible-* tool) of the venv running the tests; skip when there is none."""
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    if shutil.which(name) is None:
        pytest.skip(f"{name} not found: run make setup")
    return name
