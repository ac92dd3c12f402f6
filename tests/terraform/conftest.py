"""Fixtures for the Terraform suites: throwaway copies of terraform/ that talk to the moto server.

terraform/ itself never carries test settings. Each suite copies it to a temporary folder (as
`<tmp>/terraform`, so the inventory the stack writes to `../inventory/terraform.yml` lands in
`<tmp>/inventory/`, never in the repository), adds the moto provider override and its variables, and
runs `terraform init` from the provider mirror when TF_PROVIDER_MIRROR is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.helpers.terraform import Terraform, provider_mirror
from tests.terraform.support import REGION, copy_stack


@pytest.fixture(scope="session")
def terraform_env(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for every terraform run of these suites (emulator credentials, plugin cache)."""
    env = dict(aws_env)
    if provider_mirror() is None:
        # Without a mirror each init downloads the AWS provider (~150 MB): download it once per session.
        env["TF_PLUGIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("tf-plugin-cache"))
    return env


@pytest.fixture(scope="module")
def make_stack(
    tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, terraform_env: dict[str, str], terraform_ready: None
) -> Callable[[str, dict[str, Any]], Terraform]:
    """Factory: an initialised copy of terraform/ with the given variables, driven against moto."""

    def make(name: str, variables: dict[str, Any]) -> Terraform:
        root = tmp_path_factory.mktemp(name)
        tf = Terraform(chdir=copy_stack(root, moto_endpoint, variables), workdir=root / ".tf", env=terraform_env)
        tf.init()
        return tf

    return make


@pytest.fixture(scope="session")
def aws(aws_env: dict[str, str]) -> Callable[[str], Any]:
    """boto3 clients for the emulator: aws("ec2"), aws("iam"), ..."""

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            region_name=REGION,
            aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        )

    return client
