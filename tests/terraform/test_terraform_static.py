"""terraform/ as committed: formatted, valid, lock file in step with versions.tf."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.terraform import Terraform
from tests.terraform.support import TERRAFORM_DIR

pytestmark = pytest.mark.usefixtures("terraform_ready")


def test_configuration_is_formatted(tmp_path: Path) -> None:
    tf = Terraform(chdir=TERRAFORM_DIR, workdir=tmp_path)
    result = tf.run("fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{result.stdout}"


def test_configuration_is_valid(tmp_path: Path, terraform_env: dict[str, str]) -> None:
    """`terraform validate` on a pristine copy (init from the committed lock file, no backend)."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfvars"))
    tf = Terraform(chdir=copy, workdir=tmp_path / ".tf", env=terraform_env)
    tf.init("-backend=false", "-lockfile=readonly")  # readonly: a lock file out of step fails here
    report = json.loads(tf.run("validate", "-json", "-no-color", check=False).stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


def test_lock_file_pins_the_aws_provider_within_the_constraint() -> None:
    lock = (TERRAFORM_DIR / ".terraform.lock.hcl").read_text()
    match = re.search(r'provider "registry.terraform.io/hashicorp/aws" \{\s+version\s+=\s+"5\.(\d+)\.\d+"', lock)
    assert match, "terraform/.terraform.lock.hcl must pin hashicorp/aws 5.x (commit it after `terraform init`)"
    assert int(match.group(1)) >= 100
    assert 'version = "~> 5.100"' in (TERRAFORM_DIR / "versions.tf").read_text()
