"""Render the workload manifests once per variable set, for every test of this folder.

The rendering is the real thing: `ansible-playbook playbooks/render.yml`, the entry point the roles
apply from, on the control node only (no cluster, no network).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Non-default values for every variable that changes what is rendered. The inventory below plays
# the Terraform inventory: node addresses and the ECR repository as group variables.
CUSTOM_VARS = {
    "app_namespace": "shop",
    "postgres_namespace": "shop",
    "app_name": "users-api",
    "postgres_client_pod_labels": {"app.kubernetes.io/name": "users-api"},
    "app_node_port": 31080,
    "app_node_port_range": "30000-32767",
    "app_replicas": 3,
    "app_image_tag": "1.2.3",
    "app_extra_allowed_hosts": ["api.example.com"],
    "app_extra_env": {"DJANGO_HTTPS": "true"},
    "app_topology_when_unsatisfiable": "DoNotSchedule",
    "postgres_storage_class": "gp3-retain",
    "postgres_storage_size": "20Gi",
    "postgres_user": "shop_owner",
    # Supplied secrets (as from Ansible Vault) instead of generated ones.
    "postgres_superuser_password": "vault-Supplied-Superuser-Password-0123456789",
    "postgres_app_password": "vault-Supplied-App-Password-0123456789",
    "app_secret_key": "vault-supplied-django-key-abcdefghijklmnopqrstuvwxyz-0123456789",
}
CUSTOM_INVENTORY = {
    "k3s_cluster": {
        "children": {
            "server": {"hosts": {"node-a": {"ansible_host": "203.0.113.10", "k3s_node_ip": "10.0.1.10"}}},
            "agent": {
                "hosts": {
                    "node-b": {"ansible_host": "203.0.113.11", "k3s_node_ip": "10.0.1.11"},
                    "node-c": {"ansible_host": "203.0.113.12", "k3s_node_ip": "10.0.1.12"},
                }
            },
        },
        "vars": {"ecr_repository_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-api"},
    }
}


@dataclass
class Rendered:
    """One rendering: the folder, every document by role, and the credentials folder used."""

    root: Path
    credentials: Path
    variables: dict
    docs: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict:
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def files(self) -> list[Path]:
        return sorted(self.root.rglob("*.yaml"))


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run_render(root: Path, variables: dict, inventory: str) -> subprocess.CompletedProcess:
    """Run playbooks/render.yml into root with the variables as an extra-vars file."""
    root.mkdir(parents=True, exist_ok=True)
    vars_file = root.parent / f"{root.name}-vars.json"
    vars_file.write_text(json.dumps({"render_dir": str(root), **variables}))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", inventory, "playbooks/render.yml", "-e", f"@{vars_file}"],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def load(root: Path, credentials: Path, variables: dict) -> Rendered:
    rendered = Rendered(root=root, credentials=credentials, variables=variables)
    for path in rendered.files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = str(path.relative_to(root))
                rendered.docs.append(doc)
    return rendered


def default_inventory() -> str:
    """The repository's example inventory, so inventory/group_vars apply as in a real run; the
    implicit localhost when the cluster roles' example is not there."""
    example = REPO / "inventory" / "hosts.example.yml"
    return str(example) if example.exists() else "localhost,"


def render_or_fail(root: Path, variables: dict, inventory: str) -> Rendered:
    result = run_render(root, variables, inventory)
    if result.returncode != 0:
        pytest.fail(f"render.yml failed (rc {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return load(root, Path(variables.get("postgres_credentials_dir", "")), variables)


@pytest.fixture(scope="session")
def default_render(tmp_path_factory) -> Rendered:
    """Default variables; the generated secrets go to a throwaway credentials folder."""
    base = tmp_path_factory.mktemp("render-default")
    credentials = base / "credentials"
    variables = {"postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)}
    return render_or_fail(base / "manifests", variables, default_inventory())


@pytest.fixture(scope="session")
def custom_render(tmp_path_factory) -> Rendered:
    base = tmp_path_factory.mktemp("render-custom")
    credentials = base / "credentials"
    inventory = base / "inventory.yml"
    inventory.write_text(yaml.safe_dump(CUSTOM_INVENTORY))
    variables = {**CUSTOM_VARS, "postgres_credentials_dir": str(credentials), "app_credentials_dir": str(credentials)}
    return render_or_fail(base / "manifests", variables, str(inventory))


@pytest.fixture(scope="session", params=["default", "custom"])
def rendered(request) -> Rendered:
    return request.getfixturevalue(f"{request.param}_render")


def pinned_k3s_minor() -> str | None:
    """The Kubernetes minor of the k3s release the k3s roles pin (k3s_version), e.g. '1.34'."""
    version = ""
    for role in ("k3s", "k3s_server"):
        defaults = REPO / "roles" / role / "defaults" / "main.yml"
        if defaults.exists():
            version = version or (yaml.safe_load(defaults.read_text()) or {}).get("k3s_version", "")
    if not version:
        return None
    match = re.match(r"v?(\d+)\.(\d+)\.", str(version))
    return f"{match[1]}.{match[2]}" if match else None
