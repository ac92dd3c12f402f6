"""Bad input is refused at plan time, each value with its own message; good input plans cleanly.

`terraform plan` runs against the emulator with the valid variables of support.valid_vars() plus the
bad values under test. A plan costs ~10 s (the AWS provider is a 700 MB binary), so single-variable
cases are batched: one plan per round, each variable at most once per round. Terraform reports every
failed variable validation of a plan, each as its own diagnostic naming the variable, and a test passes
only if the diagnostic of *its* variable carries *its* message. Preconditions (rules across variables)
only run once all variables are valid, so each of those plans holds only valid variables. The plans
share no state, so they run side by side (-lock=false), which hides most of the provider start-up time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers.terraform import Terraform
from tests.terraform.support import TERRAFORM_DIR, valid_vars


def example_value(name: str) -> Any:
    """A value as terraform.tfvars.example sets it (the file an operator copies)."""
    for line in (TERRAFORM_DIR / "terraform.tfvars.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return json.loads(value.split(" #", 1)[0].strip())
    raise KeyError(name)


@dataclass(frozen=True, eq=False)
class Bad:
    variable: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.variable}={json.dumps(self.value)}"


VALIDATION_CASES = [
    Bad("server_count", 2, "server_count must be 1, 3 or 5: embedded etcd needs an odd number of members"),
    Bad("server_count", 0, "server_count must be 1, 3 or 5"),
    Bad("agent_count", -1, "agent_count must be a whole number from 0 to 50."),
    Bad("agent_count", 1.5, "agent_count must be a whole number from 0 to 50."),
    Bad("admin_cidrs", ["10.0.0.300/24"], "admin_cidrs must contain only IPv4 CIDRs"),
    Bad("admin_cidrs", ["203.0.113.7"], "admin_cidrs must contain only IPv4 CIDRs"),
    Bad("admin_cidrs", [], "admin_cidrs must list at least one CIDR"),
    Bad("app_cidrs", ["anywhere"], "app_cidrs must contain only IPv4 CIDRs"),
    Bad("app_cidrs", ["10.0.0.0/33"], "app_cidrs must contain only IPv4 CIDRs"),
    Bad("os", "centos7", "os must be debian12 or ubuntu2404."),
    Bad("architecture", "sparc", "architecture must be x86_64 or arm64."),
    Bad("root_volume_size", 8, "root_volume_size must be a whole number of GiB from 20 to 1024."),
    Bad("root_volume_size", 4096, "root_volume_size must be a whole number of GiB from 20 to 1024."),
    Bad("server_instance_type", "large", "server_instance_type must be an EC2 instance type"),
    Bad("agent_instance_type", "T3 Medium", "agent_instance_type must be an EC2 instance type"),
    Bad("cluster_name", "Bad_Name", "cluster_name must be 3-24 characters of lowercase letters"),
    Bad("cluster_name", "k3s-", "cluster_name must be 3-24 characters of lowercase letters"),
    Bad("region", "mars-1", "region must be an AWS region name"),
    Bad("ami_id", "debian-12", "ami_id must look like ami-0123456789abcdef0"),
    Bad("ssh_public_key", "not a key", "ssh_public_key must be one OpenSSH public key line"),
    # The example's placeholder must stop the plan: EC2 would refuse it after 20 of 25 resources.
    Bad("ssh_public_key", example_value("ssh_public_key"), "ssh_public_key must be one OpenSSH public key line"),
    # EC2 imports RSA and ED25519 keys only (ImportKeyPair): an ECDSA key fails the apply.
    Bad(
        "ssh_public_key",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEXAMPLE= me@laptop",
        "of a type EC2 imports: ssh-ed25519 (or ssh-rsa, 2048 bits or more)",
    ),
    Bad("ecr_keep_images", 0, "ecr_keep_images must be a whole number from 1 to 1000."),
    Bad("ecr_repository_name", "My Repo", "ecr_repository_name must be lowercase letters"),
    Bad("vpc_cidr", "10.0.0.0/8", "vpc_cidr must be an IPv4 CIDR with a prefix between /16 and /24"),
    Bad("az_count", 1, "az_count must be a whole number from 2 to 6"),
    Bad("vpc_id", "my-vpc", "vpc_id must look like vpc-0123456789abcdef0"),
    Bad("subnet_ids", ["subnet-xyz"], "subnet_ids must be subnet ids"),
    Bad("kms_key_arn", "arn:aws:kms:eu-west-1:111122223333:alias/mine", "kms_key_arn must be a KMS key ARN"),
    # A wildcard or a whole `sub` would widen the push role's trust beyond one repository's main and v* tags.
    Bad("github_repository", "octo-org/*", 'github_repository must be "owner/name"'),
    Bad("github_repository", "https://github.com/octo-org/k3s", 'github_repository must be "owner/name"'),
    Bad("github_repository", "octo-org/k3s:ref:refs/heads/dev", 'github_repository must be "owner/name"'),
    Bad(
        "github_oidc_provider_arn",
        "arn:aws:iam::111122223333:oidc-provider/gitlab.com",
        "github_oidc_provider_arn must be the ARN of a token.actions.githubusercontent.com provider",
    ),
    Bad("backup_bucket_name", "My_Backups", "backup_bucket_name must be a valid S3 bucket name"),
    Bad("backup_prefix", "db/postgres", "backup_prefix must be 1-63 lowercase letters, digits and hyphens"),
    Bad("backup_retention_days", 0, "backup_retention_days must be a whole number of days from 1 to 3650."),
    Bad("data_volume_size", 2.5, "data_volume_size must be 0 (data on the root volume) or a whole number of GiB"),
]


def rounds(cases: list[Bad]) -> list[list[Bad]]:
    """Group cases so that no variable appears twice in one round."""
    batches: list[list[Bad]] = []
    for case in cases:
        batch = next((b for b in batches if all(c.variable != case.variable for c in b)), None)
        if batch is None:
            batches.append(batch := [])
        batch.append(case)
    return batches


def normalise(text: str) -> str:
    """Terraform wraps messages at 78 columns and frames source snippets; compare on words."""
    return " ".join(text.replace("│", " ").replace("├", " ").replace("╷", " ").replace("╵", " ").split())


def diagnostics(stderr: str) -> list[str]:
    return ["Error: " + block for block in normalise(stderr).split("Error: ")[1:]]


def var_file(tf: Terraform, variables: dict[str, Any]) -> str:
    """The overrides as a JSON var file (typed, unlike -var), which wins over test.auto.tfvars.json."""
    path = tf.workdir / f"overrides-{abs(hash(json.dumps(variables, sort_keys=True)))}.tfvars.json"
    path.write_text(json.dumps(variables, indent=2))
    return f"-var-file={path}"


def plan(tf: Terraform, variables: dict[str, Any], *extra: str) -> tuple[int, list[str]]:
    """`terraform plan` with the overrides: (exit code with -detailed-exitcode, error diagnostics)."""
    args = ["plan", "-no-color", "-input=false", "-detailed-exitcode", "-lock=false", *extra, var_file(tf, variables)]
    result = tf.run(*args, check=False)
    return result.returncode, diagnostics(result.stderr)


@pytest.fixture(scope="module")
def tf(make_stack: Callable[..., Terraform]) -> Terraform:
    return make_stack("variables", valid_vars("tfvars"))


@pytest.fixture(scope="module")
def validation_rounds(plans: dict[str, Any]) -> dict[str, tuple[int, list[str], int]]:
    """Every case -> (plan exit code, diagnostics of its round, number of cases in its round)."""
    outcome = {}
    for index, batch in enumerate(rounds(VALIDATION_CASES)):
        code, errors = plans[f"round-{index}"]
        outcome.update({str(case): (code, errors, len(batch)) for case in batch})
    return outcome


@pytest.mark.parametrize("case", VALIDATION_CASES, ids=str)
def test_bad_value_is_refused_with_its_message(
    case: Bad, validation_rounds: dict[str, tuple[int, list[str], int]]
) -> None:
    code, errors, _ = validation_rounds[str(case)]
    assert code == 1, f"plan should fail for {case}"
    mine = [error for error in errors if f"var.{case.variable} is " in error]
    assert len(mine) == 1, f"expected one diagnostic for var.{case.variable}, got:\n" + "\n".join(errors)
    assert "Invalid value for variable" in mine[0]
    assert normalise(case.message) in mine[0]


def test_each_round_fails_only_on_its_bad_values(validation_rounds: dict[str, tuple[int, list[str], int]]) -> None:
    """No valid variable of the baseline is refused: errors == bad values, round by round."""
    for case, (_, errors, size) in validation_rounds.items():
        assert len(errors) == size, f"round of {case}: {size} bad values but {len(errors)} errors:\n" + "\n".join(
            errors
        )


@dataclass
class ExistingNetwork:
    """A VPC made outside Terraform, with one public and one private subnet."""

    vpc_id: str
    public_subnet_id: str
    private_subnet_id: str


@pytest.fixture(scope="module")
def network(aws: Callable[[str], Any]) -> ExistingNetwork:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    public, private = (
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.77.0.0/24", "eu-west-1a"), ("10.77.1.0/24", "eu-west-1b"))
    )
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    return ExistingNetwork(vpc_id, public, private)


# Cross-variable rules: (overrides, every message the plan must report). {placeholders} name the
# existing network's ids.
PRECONDITION_CASES = {
    "world-admin-without-allow_world_admin+more-zones-than-the-region-has": (
        {"admin_cidrs": ["203.0.113.7/32", "0.0.0.0/0"], "az_count": 5},
        [
            "admin_cidrs contains 0.0.0.0/0: a prefix shorter than /8 (IPv4) or /32 (IPv6) opens SSH and the "
            "Kubernetes API to a large part of the internet",
            "az_count = 5 but region eu-west-1 offers only 3 availability zones",
        ],
    ),
    # The world in two halves, and a /0 spelled with two digits: the guard compares prefix lengths.
    "world-admin-as-two-halves": (
        {"admin_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
        ["admin_cidrs contains 0.0.0.0/1, 128.0.0.0/1: a prefix shorter than /8"],
    ),
    "world-admin-zero-padded+a-slash-7": (
        {"admin_cidrs": ["0.0.0.0/00", "10.0.0.0/7", "198.51.100.0/24"]},
        ["admin_cidrs contains 0.0.0.0/00, 10.0.0.0/7: a prefix shorter than /8"],
    ),
    "private-subnet_ids-without-vpc_id": (
        {"subnet_ids": ["{private_subnet_id}"]},
        [
            "vpc_id and subnet_ids go together",
            "Subnet {private_subnet_id} belongs to {vpc_id}, not to vpc_id = null",
            "Subnet {private_subnet_id} does not assign public IPv4 addresses",
        ],
    ),
}


def good_variables(network: ExistingNetwork) -> dict[str, Any]:
    """Unusual but valid: world admin on purpose, Ubuntu, no app exposure, an existing network."""
    return {
        "admin_cidrs": ["0.0.0.0/0"],
        "allow_world_admin": True,
        "os": "ubuntu2404",
        "app_cidrs": [],
        "vpc_id": network.vpc_id,
        "subnet_ids": [network.public_subnet_id],
    }


@pytest.fixture(scope="module")
def plans(tf: Terraform, network: ExistingNetwork) -> dict[str, tuple[int, list[str]]]:
    """Every plan of this module, run side by side: name -> (exit code, error diagnostics)."""
    ids = vars(network)
    jobs: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
        f"round-{index}": ({case.variable: case.value for case in batch}, ())
        for index, batch in enumerate(rounds(VALIDATION_CASES))
    }
    for name, (variables, _) in PRECONDITION_CASES.items():
        text = json.dumps(variables)
        for key, value in ids.items():
            text = text.replace("{" + key + "}", value)
        jobs[name] = (json.loads(text), ())
    jobs["good"] = (good_variables(network), ("-out=good.tfplan",))
    jobs["github-existing-provider"] = (GITHUB_WITH_EXISTING_PROVIDER, ("-out=github.tfplan",))
    # Three at a time: each plan runs the 700 MB provider; more would only queue on 2 cores.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(plan, tf, variables, *extra) for name, (variables, extra) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(PRECONDITION_CASES))
def test_inconsistent_variables_are_refused(
    name: str, plans: dict[str, tuple[int, list[str]]], network: ExistingNetwork
) -> None:
    code, errors = plans[name]
    messages = [message.format(**vars(network)) for message in PRECONDITION_CASES[name][1]]
    assert code == 1
    # A precondition on a counted resource fails once per instance: count distinct diagnostics.
    assert len(set(errors)) == len(messages), "\n".join(errors)
    for message in messages:
        assert any(normalise(message) in error for error in errors), f"{message!r} not in:\n" + "\n".join(errors)


def test_unusual_but_valid_input_plans_cleanly(
    tf: Terraform, plans: dict[str, tuple[int, list[str]]], network: ExistingNetwork
) -> None:
    """allow_world_admin lifts the 0.0.0.0/0 guard; ubuntu2404 logs in as `ubuntu`; [] app_cidrs closes
    30800; an existing VPC and public subnet are used instead of creating a network."""
    code, errors = plans["good"]
    assert code == 2, "\n".join(errors)  # -detailed-exitcode: 2 = a plan with changes, no error
    planned = json.loads(tf.run("show", "-json", "good.tfplan").stdout)
    assert planned["planned_values"]["outputs"]["ansible_user"]["value"] == "ubuntu"
    resources = {r["address"]: r for r in planned["planned_values"]["root_module"]["resources"]}
    assert resources["aws_security_group_rule.ssh"]["values"]["cidr_blocks"] == ["0.0.0.0/0"]
    assert not [address for address in resources if address.startswith("aws_security_group_rule.app_nodeport")]
    assert not [address for address in resources if address.startswith(("aws_vpc.", "aws_subnet."))]
    assert resources["aws_security_group.nodes"]["values"]["vpc_id"] == network.vpc_id
    nodes = [r for r in resources.values() if r["type"] == "aws_instance"]
    assert nodes
    assert {node["values"]["subnet_id"] for node in nodes} == {network.public_subnet_id}


def planned_resources(tf: Terraform, plan_file: str) -> dict[str, dict[str, Any]]:
    planned = json.loads(tf.run("show", "-json", plan_file).stdout)
    return {r["address"]: r for r in planned["planned_values"]["root_module"]["resources"]}


def test_without_github_repository_nothing_for_github_is_planned(
    tf: Terraform, plans: dict[str, tuple[int, list[str]]]
) -> None:
    """The default: no OIDC provider, no push role, and the outputs say so (null)."""
    code, errors = plans["good"]
    assert code == 2, "\n".join(errors)
    addresses = set(planned_resources(tf, "good.tfplan"))
    assert "aws_ecr_repository.app" in addresses  # the plan is a real one
    github = [a for a in addresses if "github" in a or "openid_connect" in a or "ecr_push" in a]
    assert github == []
    outputs = json.loads(tf.run("show", "-json", "good.tfplan").stdout)["planned_values"]["outputs"]
    assert outputs["github_push_role_arn"].get("value") is None
    assert outputs["github_actions_variables"].get("value") is None


# An account that already trusts GitHub (AWS allows one provider per URL): the role uses that provider,
# and the repository in its immutable-claim form is matched as given.
EXISTING_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
GITHUB_WITH_EXISTING_PROVIDER = {
    "github_repository": "octo-org@1234567/k3s-platform@89012345",
    "github_oidc_provider_arn": EXISTING_PROVIDER,
}


def test_an_existing_github_provider_is_used_instead_of_a_new_one(
    tf: Terraform, plans: dict[str, tuple[int, list[str]]]
) -> None:
    code, errors = plans["github-existing-provider"]
    assert code == 2, "\n".join(errors)
    resources = planned_resources(tf, "github.tfplan")
    assert not [a for a in resources if a.startswith("aws_iam_openid_connect_provider.")]
    trust = json.loads(resources["aws_iam_role.github_push[0]"]["values"]["assume_role_policy"])
    assert {s["Principal"]["Federated"] for s in trust["Statement"]} == {EXISTING_PROVIDER}
    subjects = sorted(
        value
        for statement in trust["Statement"]
        for test in ("StringEquals", "StringLike")
        for key, value in statement["Condition"].get(test, {}).items()
        if key.endswith(":sub")
    )
    assert subjects == [
        "repo:octo-org@1234567/k3s-platform@89012345:ref:refs/heads/main",
        "repo:octo-org@1234567/k3s-platform@89012345:ref:refs/tags/v*",
    ]
