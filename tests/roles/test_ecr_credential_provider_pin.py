"""ecr-credential-provider is pinned: the release artifacts.k8s.io still serves, and its digests.

The expected values are copied from issue 11, which quotes the promotion manifest
kubernetes/k8s.io artifacts/manifests/k8s-staging-provider-aws/v1.31.7.yaml. The role's defaults are
rendered by Ansible's own templating for each architecture, so a default that reads the checksum from
a URL (the binary's host) again fails here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "k3s"

ISSUE_VERSION = "v1.31.7"
ISSUE_DIGESTS = {
    "amd64": "7644623e4ec9ad443ab352a8a5800a5180ee28741288be805286ba72bb8e7164",
    "arm64": "1980e3a038cb16da48a137743b31fb81de6c0b59fa06c206c2bc20ce0a52f849",
}
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def render(expression: str, architecture: str) -> str:
    """Template one role default the way Ansible does, for a node of the given architecture."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    variables = {
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
    }
    variables = {key: trust_as_template(value) if isinstance(value, str) else value for key, value in variables.items()}
    variables["ansible_facts"] = {"architecture": architecture}
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.fixture(scope="module")
def defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def test_the_release_still_published_on_artifacts_k8s_io_is_pinned(defaults: dict) -> None:
    assert defaults["k3s_ecr_credential_provider_version"] == ISSUE_VERSION
    assert defaults["k3s_ecr_credential_provider_sha256"] == ISSUE_DIGESTS


@pytest.mark.parametrize(("architecture", "arch"), ARCHITECTURES.items())
def test_each_architecture_downloads_its_binary_against_its_pinned_digest(
    defaults: dict, architecture: str, arch: str
) -> None:
    url = render(defaults["k3s_ecr_credential_provider_url"], architecture)
    assert urlparse(url).hostname == "artifacts.k8s.io"
    assert url.endswith(f"/{ISSUE_VERSION}/linux/{arch}/ecr-credential-provider-linux-{arch}")
    # get_url takes "sha256:<url>" as "fetch the checksum from there": only a literal digest is a pin.
    assert render(defaults["k3s_ecr_credential_provider_checksum"], architecture) == f"sha256:{ISSUE_DIGESTS[arch]}"


def test_no_checksum_is_fetched_from_the_binarys_host() -> None:
    """No task or default of the role reads a published .sha256 file for the provider."""
    for path in ROLE.rglob("*.yml"):
        text = path.read_text()
        assert ".sha256" not in text, f"{path.relative_to(REPO)} reads a checksum file published beside the binary"
    ecr_tasks = yaml.safe_load((ROLE / "tasks" / "ecr.yml").read_text())
    downloads = [task for task in ecr_tasks if "ansible.builtin.get_url" in task]
    assert [task["ansible.builtin.get_url"]["checksum"] for task in downloads] == [
        "{{ k3s_ecr_credential_provider_checksum }}"
    ]
