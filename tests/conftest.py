"""Fixtures shared by the repository-level test suites (Terraform, inventory, manifests, image)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from tests.helpers.terraform import provider_mirror


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An AWS API emulator (moto server) on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """Environment variables that point AWS SDKs and CLIs at moto with throwaway credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105  (moto accepts any credentials)
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }


@pytest.fixture(scope="session")
def aws_client(aws_env: dict[str, str]):
    """Factory: a boto3 client for one service, talking to the emulator: aws_client("ec2")."""
    import boto3

    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            region_name=aws_env["AWS_REGION"],
            aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        )

    return make


@pytest.fixture(scope="session")
def terraform_ready() -> None:
    """Skip, naming what is missing, when terraform cannot run here."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not on PATH (install Terraform >= 1.6 to run this test)")
    if provider_mirror() is None and not _registry_reachable():
        pytest.skip(
            "TF_PROVIDER_MIRROR is not set and registry.terraform.io is unreachable: "
            "point TF_PROVIDER_MIRROR at a filesystem mirror holding registry.terraform.io/hashicorp/aws"
        )


def _registry_reachable() -> bool:
    try:
        socket.create_connection(("registry.terraform.io", 443), timeout=3).close()
    except OSError:
        return False
    return True
