"""Run the terraform CLI from tests, offline when a provider mirror is given.

`TF_PROVIDER_MIRROR` names a filesystem mirror (a folder holding
`registry.terraform.io/hashicorp/aws/...`). When it is set, a CLI configuration is written that
installs providers only from that folder, so `terraform init` never reaches for the registry;
when it is not set, terraform uses the public registry as usual.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def provider_mirror() -> Path | None:
    """The provider mirror from TF_PROVIDER_MIRROR, or None; a wrong path is an error, not a skip."""
    value = os.environ.get("TF_PROVIDER_MIRROR")
    if not value:
        return None
    path = Path(value)
    if not (path / "registry.terraform.io").is_dir():
        raise RuntimeError(f"TF_PROVIDER_MIRROR={value} holds no registry.terraform.io/ tree")
    return path


def cli_config(mirror: Path | None, directory: Path) -> Path:
    """Write a terraform CLI configuration into `directory` and return its path."""
    path = directory / "terraformrc"
    if mirror is None:
        # An empty file: it still replaces a TF_CLI_CONFIG_FILE inherited from the machine that may
        # point to nothing.
        path.write_text("")
    else:
        path.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
            '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n'
            "}\n"
        )
    return path


class TerraformError(RuntimeError):
    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]):
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(f"terraform {' '.join(args)} exited {result.returncode}:\n{result.stderr or result.stdout}")


@dataclass
class Terraform:
    """One working directory (`chdir`) driven with a fixed environment."""

    chdir: Path
    workdir: Path  # scratch space for the CLI config and the plugin cache
    env: dict[str, str] = field(default_factory=dict)
    binary: str = field(default_factory=lambda: shutil.which("terraform") or "terraform")

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("TF_") or k == "TF_LOG"}
        base.update(
            TF_CLI_CONFIG_FILE=str(cli_config(provider_mirror(), self.workdir)),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
        )
        base.update(self.env)
        self.env = base

    def run(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, f"-chdir={self.chdir}", *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise TerraformError(list(args), result)
        return result

    def init(self, *args: str) -> None:
        self.run("init", "-no-color", *args)

    def output(self) -> dict:
        raw = json.loads(self.run("output", "-json").stdout)
        return {name: item["value"] for name, item in raw.items()}


# Services the stack uses; each is pointed at the emulator.
MOTO_SERVICES = ("ec2", "iam", "ecr", "sts", "s3", "dynamodb", "kms")


def moto_provider_override(endpoint: str, region: str = "eu-west-1") -> str:
    """HCL for an `aws` provider that talks to moto server with fake credentials.

    Written as a `*_override.tf` next to a copy of the configuration under test, so the real
    provider block in terraform/ never carries test settings.
    """
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in MOTO_SERVICES)
    return f"""provider "aws" {{
  region                      = "{region}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}
"""
