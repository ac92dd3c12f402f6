"""Helpers shared by the Terraform suites (plain functions; the fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers.terraform import moto_provider_override

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
REGION = "eu-west-1"
# The official Debian/Ubuntu images are not in the emulator, so the lookup finds nothing there;
# this is an image moto serves.
MOTO_AMI = "ami-12c6146b"


def ssh_public_key() -> str:
    """A fresh OpenSSH public key line (the private half is thrown away: nobody logs in)."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " tests"


def valid_vars(cluster_name: str) -> dict[str, Any]:
    """Variables every test stack starts from; each test overrides what it is about."""
    return {
        "region": REGION,
        "cluster_name": cluster_name,
        "admin_cidrs": ["203.0.113.7/32", "198.51.100.0/24"],
        "app_cidrs": ["0.0.0.0/0"],
        "ssh_public_key": ssh_public_key(),
        "ami_id": MOTO_AMI,
    }


def copy_stack(dest: Path, endpoint: str, variables: dict[str, Any]) -> Path:
    """Copy terraform/ to dest/terraform with the moto override and the variables; return the copy."""
    copy = dest / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        copy,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfvars", "*_override.tf", "backend.tf"),
    )
    (copy / "moto_override.tf").write_text(moto_provider_override(endpoint, REGION))
    (copy / "test.auto.tfvars.json").write_text(json.dumps(variables, indent=2))
    return copy


def ansible_inventory_binary() -> str:
    """ansible-inventory from the venv running the tests, else from PATH; skip when there is none."""
    candidate = Path(sys.executable).parent / "ansible-inventory"
    found = str(candidate) if candidate.exists() else shutil.which("ansible-inventory")
    if not found:
        pytest.skip("ansible-inventory not found: install requirements-dev.txt (make setup) to check the inventories")
    return found


def _plain(value: Any) -> Any:
    """Strip ansible-core's `{"__ansible_unsafe": ...}` wrappers from `--list` output."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def ansible_inventory_list(
    cwd: Path, inventory: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """`ansible-inventory [-i inventory] --list` run in cwd, parsed; a failure shows its stderr."""
    command = [ansible_inventory_binary(), "--list"]
    if inventory is not None:
        command += ["-i", str(inventory)]
    full_env = {**os.environ, "ANSIBLE_DEPRECATION_WARNINGS": "False", **(env or {})}
    result = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"ansible-inventory failed:\n{result.stderr}"
    return _plain(json.loads(result.stdout))


def hosts_of(listing: dict[str, Any], group: str) -> set[str]:
    """Every host in a group of an `ansible-inventory --list` result, through its child groups."""
    entry = listing.get(group, {})
    hosts = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts |= hosts_of(listing, child)
    return hosts
