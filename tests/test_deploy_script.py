"""`make deploy` (scripts/deploy.sh) checks what it needs before it creates anything.

The whole run is rehearsed in tests/rehearsal; this is the first-contact case: a fresh checkout with
no terraform.tfvars yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.checkout import copy_checkout, snapshot


def test_without_tfvars_it_says_what_to_fill_in_and_creates_nothing(tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not on PATH (install Terraform >= 1.6 to run this test)")
    root = copy_checkout(tmp_path / "checkout")
    before = snapshot(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [str(root / "scripts" / "deploy.sh")], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "terraform/terraform.tfvars is missing" in result.stderr
    for setting in ("region", "admin_cidrs", "ssh_public_key"):
        assert setting in result.stderr
    assert "Nothing was created." in result.stderr
    assert snapshot(root) == before
