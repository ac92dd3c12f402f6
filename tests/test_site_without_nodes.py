"""`ansible-playbook site.yml` before `terraform apply` stops first, says what to run, writes nothing.

Run in a copy of the checkout, exactly as typed by an operator who has not created the nodes yet:
the default inventory (inventory/terraform.yml) does not exist. With and without --check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.checkout import copy_checkout, snapshot
from tests.helpers.tools import ansible_tool


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_checkout(tmp_path_factory.mktemp("checkout"))
    assert not (root / "inventory" / "terraform.yml").exists()
    return root


@pytest.mark.parametrize("mode", [[], ["--check"]], ids=["run", "check"])
def test_site_yml_with_no_nodes_stops_first_and_writes_nothing(checkout: Path, mode: list[str]) -> None:
    before = snapshot(checkout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [ansible_tool(), "site.yml", *mode], cwd=checkout, env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "The inventory has no k3s nodes" in output
    assert "make deploy" in output
    assert "terraform -chdir=terraform apply" in output
    # Only the preflight ran: no play touched a node or the control node.
    assert output.count("PLAY [") == 1, output
    assert snapshot(checkout) == before
    assert not (checkout / "credentials").exists()
