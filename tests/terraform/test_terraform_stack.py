"""The whole stack applied once against the AWS emulator, inspected through boto3, then destroyed.

One `terraform apply` serves every test of this module (it is the slow step); the tests run in file
order and the last one destroys the stack and checks that nothing is left behind.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.ecr_lifecycle import Image, expired
from tests.helpers.terraform import Terraform
from tests.terraform import iam_policy
from tests.terraform.support import REGION, REPO_ROOT, ansible_inventory_list, hosts_of, valid_vars

CLUSTER = "tfstack"
SERVERS = 3
AGENTS = 2
ROOT_VOLUME_GIB = 25
KEEP_IMAGES = 7
APP_PORT = 30800
RETENTION_DAYS = 9
DATA_VOLUME_GIB = 12
# The tag site.yml adds to the image it deploys (roles/app, app_image_deployed_tag_prefix).
DEPLOYED_PREFIX = "deployed-"
ECR_PULL_ACTIONS = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
GITHUB_REPOSITORY = "octo-org/k3s-platform"
GITHUB_ISSUER = "token.actions.githubusercontent.com"


@dataclass
class Stack:
    tf: Terraform
    variables: dict[str, Any]
    outputs: dict[str, Any]
    destroyed: bool = False

    @property
    def root(self) -> Path:
        """The folder holding the copy of terraform/ (and the inventory/ it writes)."""
        return self.tf.chdir.parent


@pytest.fixture(scope="module")
def stack(make_stack: Callable[..., Terraform]) -> Iterator[Stack]:
    variables = {
        **valid_vars(CLUSTER),
        "server_count": SERVERS,
        "agent_count": AGENTS,
        "root_volume_size": ROOT_VOLUME_GIB,
        "ecr_keep_images": KEEP_IMAGES,
        "github_repository": GITHUB_REPOSITORY,
        "backup_retention_days": RETENTION_DAYS,
        "data_volume_size": DATA_VOLUME_GIB,
    }
    tf = make_stack("stack", variables)
    tf.run("apply", "-auto-approve", "-no-color")
    deployed = Stack(tf=tf, variables=variables, outputs=tf.output())
    yield deployed
    if not deployed.destroyed:  # a test failed before the destroy test: still clean the emulator
        tf.run("destroy", "-auto-approve", "-no-color", check=False)


@pytest.fixture(scope="module")
def instances(stack: Stack, aws: Callable[[str], Any]) -> list[dict[str, Any]]:
    reservations = aws("ec2").describe_instances(
        Filters=[
            {"Name": "tag:cluster", "Values": [CLUSTER]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [instance for reservation in reservations for instance in reservation["Instances"]]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


@pytest.fixture(scope="module")
def node_group(stack: Stack, instances: list[dict[str, Any]], aws: Callable[[str], Any]) -> dict[str, Any]:
    group_ids = {group["GroupId"] for instance in instances for group in instance["SecurityGroups"]}
    assert len(group_ids) == 1, f"every node should be in exactly one security group, found {group_ids}"
    return aws("ec2").describe_security_groups(GroupIds=list(group_ids))["SecurityGroups"][0]


# --- Compute ------------------------------------------------------------------------------------


def test_one_instance_per_node_with_role_tags(instances: list[dict[str, Any]]) -> None:
    roles = Counter(tags_of(instance)["k3s-role"] for instance in instances)
    assert roles == {"server": SERVERS, "agent": AGENTS}
    names = sorted(tags_of(instance)["Name"] for instance in instances)
    expected = [f"{CLUSTER}-agent-{i}" for i in range(1, AGENTS + 1)]
    expected += [f"{CLUSTER}-server-{i}" for i in range(1, SERVERS + 1)]
    assert names == expected
    assert {tags_of(instance)["cluster"] for instance in instances} == {CLUSTER}


def test_nodes_are_spread_over_two_availability_zones(instances: list[dict[str, Any]]) -> None:
    servers = [i for i in instances if tags_of(i)["k3s-role"] == "server"]
    assert len({i["Placement"]["AvailabilityZone"] for i in servers}) >= 2
    assert len({i["SubnetId"] for i in instances}) >= 2


def test_instances_require_imdsv2(instances: list[dict[str, Any]]) -> None:
    for instance in instances:
        options = instance["MetadataOptions"]
        assert options["HttpTokens"] == "required", tags_of(instance)["Name"]
        assert options["HttpEndpoint"] == "enabled"
        assert options["HttpPutResponseHopLimit"] == 1


def test_root_volumes_are_encrypted_gp3(instances: list[dict[str, Any]], aws: Callable[[str], Any]) -> None:
    root_volumes = [
        mapping["Ebs"]["VolumeId"]
        for instance in instances
        for mapping in instance["BlockDeviceMappings"]
        if mapping["DeviceName"] == instance["RootDeviceName"]
    ]
    assert len(root_volumes) == SERVERS + AGENTS
    for volume in aws("ec2").describe_volumes(VolumeIds=root_volumes)["Volumes"]:
        assert volume["Encrypted"] is True, volume["VolumeId"]
        assert volume["VolumeType"] == "gp3"
        assert volume["Size"] == ROOT_VOLUME_GIB


def test_instances_use_the_key_pair_and_the_instance_profile(
    instances: list[dict[str, Any]], aws: Callable[[str], Any]
) -> None:
    key_names = {instance["KeyName"] for instance in instances}
    assert key_names == {f"{CLUSTER}-admin"}
    assert aws("ec2").describe_key_pairs(KeyNames=list(key_names))["KeyPairs"]
    profiles = {instance["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1] for instance in instances}
    assert profiles == {f"{CLUSTER}-node-{REGION}"}


# --- Network ------------------------------------------------------------------------------------


def test_public_subnets_route_to_an_internet_gateway(
    instances: list[dict[str, Any]], aws: Callable[[str], Any]
) -> None:
    ec2 = aws("ec2")
    vpc_ids = {instance["VpcId"] for instance in instances}
    assert len(vpc_ids) == 1
    vpc_id = vpc_ids.pop()
    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
    gateway_id = gateways["InternetGateways"][0]["InternetGatewayId"]
    for subnet_id in {instance["SubnetId"] for instance in instances}:
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
        routes = tables["RouteTables"][0]["Routes"]
        assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway_id} in [
            {key: route.get(key) for key in ("DestinationCidrBlock", "GatewayId")} for route in routes
        ], subnet_id
    for instance in instances:  # the subnets hand out public addresses: Ansible and users need them
        ipaddress.ip_address(instance["PublicIpAddress"])


# --- Security group -----------------------------------------------------------------------------


def ingress_by_port(group: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {permission.get("FromPort", "all"): permission for permission in group["IpPermissions"]}


def test_admin_ports_open_only_to_admin_cidrs(stack: Stack, node_group: dict[str, Any]) -> None:
    rules = ingress_by_port(node_group)
    for port in (22, 6443):
        rule = rules[port]
        assert (rule["IpProtocol"], rule["ToPort"]) == ("tcp", port)
        sources = {ip_range["CidrIp"] for ip_range in rule["IpRanges"]}
        assert sources == set(stack.variables["admin_cidrs"]), port
        assert "0.0.0.0/0" not in sources
        assert not rule["UserIdGroupPairs"]
        assert not rule["Ipv6Ranges"]


def test_app_nodeport_open_to_app_cidrs(stack: Stack, node_group: dict[str, Any]) -> None:
    rule = ingress_by_port(node_group)[APP_PORT]
    assert (rule["IpProtocol"], rule["ToPort"]) == ("tcp", APP_PORT)
    assert {ip_range["CidrIp"] for ip_range in rule["IpRanges"]} == set(stack.variables["app_cidrs"])


def test_nodes_talk_to_each_other_through_a_self_rule(node_group: dict[str, Any]) -> None:
    rule = ingress_by_port(node_group)["all"]
    assert rule["IpProtocol"] == "-1"
    assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [node_group["GroupId"]]
    assert not rule["IpRanges"]


def test_nothing_else_is_open_and_every_rule_is_described(node_group: dict[str, Any]) -> None:
    assert set(ingress_by_port(node_group)) == {22, 6443, APP_PORT, "all"}
    world_open = [
        permission.get("FromPort", "all")
        for permission in node_group["IpPermissions"]
        if any(ip_range["CidrIp"] == "0.0.0.0/0" for ip_range in permission["IpRanges"])
    ]
    assert world_open == [APP_PORT]
    for permission in node_group["IpPermissions"] + node_group["IpPermissionsEgress"]:
        for source in permission["IpRanges"] + permission["UserIdGroupPairs"]:
            assert source.get("Description"), f"rule without a description: {permission}"


# --- ECR and IAM --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repository(stack: Stack, aws: Callable[[str], Any]) -> dict[str, Any]:
    ecr = aws("ecr")
    name = stack.outputs["ecr_repository_url"].split("/", 1)[1]
    assert name == f"{CLUSTER}/app"
    return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]


def test_ecr_repository_settings(repository: dict[str, Any], aws: Callable[[str], Any]) -> None:
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    assert repository["encryptionConfiguration"]["encryptionType"] == "KMS"


def test_lifecycle_policy_keeps_the_newest_images_and_every_deployed_one(
    repository: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    """Evaluated as ECR does (tests/helpers/ecr_lifecycle.py): a deployed image survives however old it is."""
    policy = aws("ecr").get_lifecycle_policy(repositoryName=repository["repositoryName"])["lifecyclePolicyText"]
    builds = [Image(f"build-{age}", age, (f"c{age}",)) for age in range(KEEP_IMAGES + 3)]
    # Rolled back to an old build: deployed months ago and older than every kept build.
    deployed = Image("deployed-old", 120, ("c-old", DEPLOYED_PREFIX + "c-old"))
    also_deployed = Image("deployed-recent", 1, ("c-recent", DEPLOYED_PREFIX + "c-recent"))
    gone = expired(policy, [*builds, deployed, also_deployed])
    assert deployed.name not in gone
    assert also_deployed.name not in gone
    # The newest KEEP_IMAGES images stay (the recent deployed one counts among them); the rest go.
    newest = sorted([*builds, also_deployed], key=lambda image: image.pushed_days_ago)[:KEEP_IMAGES]
    assert gone == {image.name for image in builds} - {image.name for image in newest}


def inline_policies(iam: Any, role_name: str) -> list[Any]:
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    return [iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"] for name in names]


def test_instance_role_can_only_pull_from_the_repository(repository: dict[str, Any], aws: Callable[[str], Any]) -> None:
    iam = aws("iam")
    profile = iam.get_instance_profile(InstanceProfileName=f"{CLUSTER}-node-{REGION}")["InstanceProfile"]
    (role,) = profile["Roles"]
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    trust = iam_policy.document(role["AssumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    policies = [iam_policy.document(policy) for policy in inline_policies(iam, role["RoleName"])]
    # The backups' policy (test_instance_role_may_only_put_get_and_list_the_backups), then this one.
    assert len(policies) == 2
    ecr_only = [
        p
        for p in policies
        if all(a.startswith("ecr:") for s in p["Statement"] for a in iam_policy.as_list(s["Action"]))
    ]
    assert iam_policy.grants(ecr_only) == {
        **dict.fromkeys(ECR_PULL_ACTIONS, {repository["repositoryArn"]}),
        "ecr:GetAuthorizationToken": {"*"},
    }


# --- Backups ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backup_bucket(stack: Stack) -> tuple[str, str]:
    destination = stack.outputs["backup_destination"]
    assert destination.startswith("s3://")
    bucket, prefix = destination.removeprefix("s3://").split("/", 1)
    assert bucket.startswith(f"{CLUSTER}-backups-")
    assert prefix == "postgres"
    return bucket, prefix


def test_backup_bucket_is_private_versioned_and_encrypted(
    stack: Stack, backup_bucket: tuple[str, str], aws: Callable[[str], Any]
) -> None:
    s3 = aws("s3")
    bucket, _ = backup_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (ownership,) = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership["ObjectOwnership"] == "BucketOwnerEnforced"
    (deny,) = iam_policy.document(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    state = json.loads(stack.tf.run("show", "-json", "-no-color").stdout)["values"]["root_module"]["resources"]
    (resource,) = [r for r in state if r["address"] == "aws_s3_bucket.backups"]
    assert resource["values"]["force_destroy"] is False, "destroy must stop at a bucket that holds backups"


def test_backup_lifecycle_expires_old_backups_and_versions(
    backup_bucket: tuple[str, str], aws: Callable[[str], Any]
) -> None:
    bucket, prefix = backup_bucket
    rules = {rule["ID"]: rule for rule in aws("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {"expire-backups", "abort-incomplete-uploads"}
    expire, abort = rules["expire-backups"], rules["abort-incomplete-uploads"]
    assert expire["Status"] == abort["Status"] == "Enabled"
    assert expire["Filter"] == {"Prefix": f"{prefix}/"}
    assert expire["Expiration"] == {"Days": RETENTION_DAYS}
    assert expire["NoncurrentVersionExpiration"]["NoncurrentDays"] == RETENTION_DAYS
    assert abort["Filter"] in ({}, {"Prefix": ""})
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_instance_role_may_only_put_get_and_list_the_backups(
    backup_bucket: tuple[str, str], aws: Callable[[str], Any]
) -> None:
    """Exactly put, get and list, on this prefix: no delete, no version or bucket rights."""
    bucket, prefix = backup_bucket
    iam = aws("iam")
    policies = [iam_policy.document(policy) for policy in inline_policies(iam, f"{CLUSTER}-node-{REGION}")]
    statements = [s for p in policies for s in iam_policy.as_list(p["Statement"])]
    s3 = [s for s in statements if any(a.startswith("s3:") for a in iam_policy.as_list(s["Action"]))]
    assert all(s["Effect"] == "Allow" and "NotAction" not in s for s in s3)
    actions = {a for s in s3 for a in iam_policy.as_list(s["Action"])}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}
    for statement in s3:
        if "s3:ListBucket" in iam_policy.as_list(statement["Action"]):
            assert iam_policy.as_list(statement["Resource"]) == [f"arn:aws:s3:::{bucket}"]
        else:
            assert iam_policy.as_list(statement["Resource"]) == [f"arn:aws:s3:::{bucket}/{prefix}/*"]
            assert "Condition" not in statement
    node = {"AWS": "node"}
    policy = {"Statement": [{**s, "Principal": node} for s in s3]}
    assert iam_policy.allows(policy, "s3:ListBucket", {"s3:prefix": f"{prefix}/"}, node)
    assert not iam_policy.allows(policy, "s3:ListBucket", {"s3:prefix": "other/"}, node)
    assert not iam_policy.allows(policy, "s3:ListBucket", {}, node), "listing the whole bucket"
    assert not [s for s in statements if any(a.startswith("kms:") for a in iam_policy.as_list(s["Action"]))], (
        "no customer key, no KMS grant"
    )


def test_backup_destination_reaches_the_inventory(stack: Stack) -> None:
    document = yaml.safe_load(Path(stack.outputs["inventory_path"]).read_text())
    assert document["k3s_cluster"]["vars"]["backup_destination"] == stack.outputs["backup_destination"]


# --- Data volumes -------------------------------------------------------------------------------


def test_every_node_has_its_own_data_volume_that_outlives_it(
    stack: Stack, instances: list[dict[str, Any]], aws: Callable[[str], Any]
) -> None:
    volume_ids = stack.outputs["data_volume_ids"]
    assert set(volume_ids) == {tags_of(instance)["Name"] for instance in instances}
    for instance in instances:
        name = tags_of(instance)["Name"]
        (mapping,) = [m for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
        assert mapping["Ebs"]["VolumeId"] == volume_ids[name]
        assert mapping["Ebs"]["DeleteOnTermination"] is False, name
        assert tags_of(instance)["data-volume-id"] == volume_ids[name]
    volumes = aws("ec2").describe_volumes(VolumeIds=list(volume_ids.values()))["Volumes"]
    for volume in volumes:
        assert (volume["Encrypted"], volume["VolumeType"], volume["Size"]) == (True, "gp3", DATA_VOLUME_GIB)
        (attachment,) = volume["Attachments"]
        assert attachment["InstanceId"] in {i["InstanceId"] for i in instances}
        assert volume["AvailabilityZone"] == next(
            i["Placement"]["AvailabilityZone"] for i in instances if i["InstanceId"] == attachment["InstanceId"]
        )


# --- GitHub Actions: OIDC provider and push role ------------------------------------------------

ECR_PUSH_ACTIONS = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
}


@pytest.fixture(scope="module")
def github_provider(stack: Stack, aws: Callable[[str], Any]) -> dict[str, Any]:
    iam = aws("iam")
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    github = [arn for arn in arns if arn.endswith(f":oidc-provider/{GITHUB_ISSUER}")]
    assert len(github) == 1, f"expected one GitHub OIDC provider, found {arns}"
    return {"Arn": github[0], **iam.get_open_id_connect_provider(OpenIDConnectProviderArn=github[0])}


@pytest.fixture(scope="module")
def push_role(stack: Stack, aws: Callable[[str], Any]) -> dict[str, Any]:
    return aws("iam").get_role(RoleName=f"{CLUSTER}-github-push-{REGION}")["Role"]


def github_token(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, str]:
    """The claims of a GitHub Actions OIDC token, as IAM sees them in a trust policy condition."""
    return {f"{GITHUB_ISSUER}:sub": sub, f"{GITHUB_ISSUER}:aud": aud}


def test_github_oidc_provider_trusts_the_actions_issuer_for_sts(github_provider: dict[str, Any], stack: Stack) -> None:
    assert github_provider["Url"].removeprefix("https://") == GITHUB_ISSUER
    assert github_provider["ClientIDList"] == ["sts.amazonaws.com"]
    # No thumbprint is pinned (AWS validates GitHub's JWKS against its trusted CAs and ignores one):
    # whatever IAM reports is adopted as computed, so it never shows as a change (second plan test).
    state = json.loads(stack.tf.run("show", "-json").stdout)
    (provider,) = [
        r for r in state["values"]["root_module"]["resources"] if r["type"] == "aws_iam_openid_connect_provider"
    ]
    assert provider["values"]["thumbprint_list"] == github_provider.get("ThumbprintList", [])
    source = (REPO_ROOT / "terraform" / "github_actions.tf").read_text()
    assert not re.search(r"^\s*thumbprint_list\s*=", source, flags=re.MULTILINE)


TRUSTED_TOKENS = {
    "push to main": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main"),
    "tag v1.2.0": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/tags/v1.2.0"),
}
UNTRUSTED_TOKENS = {
    "pull request": github_token(f"repo:{GITHUB_REPOSITORY}:pull_request"),
    "another branch": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/feature"),
    "a branch named main-something": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main-old"),
    "a tag not starting with v": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/tags/release-1"),
    "a branch named like a tag": github_token(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/v1"),
    "a job in an environment": github_token(f"repo:{GITHUB_REPOSITORY}:environment:production"),
    "another repository": github_token("repo:octo-org/other:ref:refs/heads/main"),
    "a fork with a longer name": github_token(f"repo:{GITHUB_REPOSITORY}-fork:ref:refs/heads/main"),
    "another owner": github_token("repo:evil-org/k3s-platform:ref:refs/heads/main"),
    "same name, other case": github_token(f"repo:{GITHUB_REPOSITORY.upper()}:ref:refs/heads/main"),
    "another audience": github_token(
        f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main", aud="https://github.com/octo-org"
    ),
    "no sub claim": {f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com"},
}


@pytest.mark.parametrize("name", list(TRUSTED_TOKENS) + list(UNTRUSTED_TOKENS))
def test_push_role_trusts_only_main_and_v_tags_of_the_repository(
    name: str, push_role: dict[str, Any], github_provider: dict[str, Any]
) -> None:
    claims = {**TRUSTED_TOKENS, **UNTRUSTED_TOKENS}[name]
    allowed = iam_policy.allows(
        push_role["AssumeRolePolicyDocument"],
        "sts:AssumeRoleWithWebIdentity",
        claims,
        principal={"Federated": github_provider["Arn"]},
    )
    assert allowed is (name in TRUSTED_TOKENS), f"{name}: {claims}"


def test_push_role_is_assumable_only_through_the_github_provider(
    push_role: dict[str, Any], github_provider: dict[str, Any]
) -> None:
    statements = iam_policy.document(push_role["AssumeRolePolicyDocument"])["Statement"]
    assert {s["Sid"] for s in statements} == {"GitHubMainBranch", "GitHubReleaseTags"}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Federated": github_provider["Arn"]}
        assert iam_policy.as_list(statement["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
    main = iam_policy.allows(
        push_role["AssumeRolePolicyDocument"],
        "sts:AssumeRoleWithWebIdentity",
        TRUSTED_TOKENS["push to main"],
        principal={"Federated": "arn:aws:iam::123456789012:oidc-provider/token.example.com"},
    )
    assert not main, "another identity provider's token with the same claims must not be trusted"


def test_push_role_can_only_push_to_the_repository(
    push_role: dict[str, Any], repository: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    iam = aws("iam")
    assert iam.list_attached_role_policies(RoleName=push_role["RoleName"])["AttachedPolicies"] == []
    assert iam_policy.grants(inline_policies(iam, push_role["RoleName"])) == {
        **dict.fromkeys(ECR_PUSH_ACTIONS, {repository["repositoryArn"]}),
        "ecr:GetAuthorizationToken": {"*"},
    }
    assert push_role["MaxSessionDuration"] == 3600


def test_outputs_name_the_push_role_and_the_workflow_variables(
    stack: Stack, push_role: dict[str, Any], repository: dict[str, Any]
) -> None:
    assert stack.outputs["github_push_role_arn"] == push_role["Arn"]
    assert stack.outputs["github_actions_variables"] == {
        "AWS_REGION": REGION,
        "AWS_PUSH_ROLE_ARN": push_role["Arn"],
        "ECR_REPOSITORY": repository["repositoryName"],
    }


# --- Idempotence and outputs --------------------------------------------------------------------


def test_second_plan_has_no_changes(stack: Stack) -> None:
    result = stack.tf.run("plan", "-detailed-exitcode", "-no-color", check=False)
    assert result.returncode == 0, f"the second plan wants changes (exit {result.returncode}):\n{result.stdout}"


def test_outputs_name_every_node(stack: Stack, instances: list[dict[str, Any]]) -> None:
    out = stack.outputs
    public = {tags_of(i)["Name"]: i["PublicIpAddress"] for i in instances}
    private = {tags_of(i)["Name"]: i["PrivateIpAddress"] for i in instances}
    servers = [f"{CLUSTER}-server-{i}" for i in range(1, SERVERS + 1)]
    agents = [f"{CLUSTER}-agent-{i}" for i in range(1, AGENTS + 1)]
    assert out["server_public_ips"] == [public[name] for name in servers]
    assert out["server_private_ips"] == [private[name] for name in servers]
    assert out["agent_public_ips"] == [public[name] for name in agents]
    assert out["agent_private_ips"] == [private[name] for name in agents]
    assert out["app_urls"] == [f"http://{public[name]}:{APP_PORT}/" for name in servers + agents]
    assert out["ssh_command"] == f"ssh admin@{public[servers[0]]}"
    assert out["kube_api_url"] == f"https://{public[servers[0]]}:6443"
    assert out["ansible_user"] == "admin"
    assert Path(out["inventory_path"]) == stack.root / "inventory" / "terraform.yml"


# --- Inventories --------------------------------------------------------------------------------


def expected_hostvars(stack: Stack, instances: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        tags_of(instance)["Name"]: {
            "ansible_host": instance["PublicIpAddress"],
            "k3s_node_ip": instance["PrivateIpAddress"],
            "ansible_user": "admin",
            "ecr_repository_url": stack.outputs["ecr_repository_url"],
            "backup_destination": stack.outputs["backup_destination"],
            "data_volume_id": tags_of(instance)["data-volume-id"],
            "app_cidrs": stack.variables["app_cidrs"],
        }
        for instance in instances
    }


def check_inventory(listing: dict[str, Any], expected: dict[str, dict[str, str]]) -> None:
    assert hosts_of(listing, "server") == {name for name in expected if "-server-" in name}
    assert hosts_of(listing, "agent") == {name for name in expected if "-agent-" in name}
    assert hosts_of(listing, "k3s_cluster") == set(expected)
    assert set(listing["k3s_cluster"].get("children", [])) == {"server", "agent"}
    for name, variables in expected.items():
        actual = listing["_meta"]["hostvars"][name]
        assert {key: actual.get(key) for key in variables} == variables, name


def test_apply_writes_the_inventory_file(stack: Stack) -> None:
    written = Path(stack.outputs["inventory_path"])
    assert written.read_text() == stack.outputs["inventory"]
    document = yaml.safe_load(written.read_text())
    servers = list(document["k3s_cluster"]["children"]["server"]["hosts"])
    assert servers[0] == f"{CLUSTER}-server-1", "the first server (which initialises the cluster) must come first"
    group_vars = document["k3s_cluster"]["vars"]
    assert group_vars["ecr_repository_url"] == stack.outputs["ecr_repository_url"]
    assert group_vars["ansible_user"] == "admin"
    assert group_vars["aws_region"] == REGION


def test_generated_inventory_parses_into_the_cluster_groups(stack: Stack, instances: list[dict[str, Any]]) -> None:
    inventory = Path(stack.outputs["inventory_path"])
    listing = ansible_inventory_list(cwd=stack.root, inventory=inventory)
    check_inventory(listing, expected_hostvars(stack, instances))


def test_ansible_cfg_uses_the_generated_inventory_by_default(stack: Stack, instances: list[dict[str, Any]]) -> None:
    """A bare `ansible-playbook site.yml` after apply targets these nodes: ansible.cfg names the file."""
    config = REPO_ROOT / "ansible.cfg"
    if not config.exists():
        pytest.skip("ansible.cfg is not in the repository yet")
    shutil.copy(config, stack.root / "ansible.cfg")
    listing = ansible_inventory_list(cwd=stack.root, env={"ANSIBLE_CONFIG": str(stack.root / "ansible.cfg")})
    assert hosts_of(listing, "k3s_cluster") == set(expected_hostvars(stack, instances))


def test_dynamic_inventory_finds_the_same_nodes(
    stack: Stack, instances: list[dict[str, Any]], aws_env: dict[str, str], tmp_path: Path
) -> None:
    """inventory/aws_ec2.yml, unchanged except for the emulator's endpoint, builds the same inventory."""
    config = yaml.safe_load((REPO_ROOT / "inventory" / "aws_ec2.yml").read_text())
    config["endpoint_url"] = aws_env["AWS_ENDPOINT_URL"]
    copy = tmp_path / "aws_ec2.yml"  # the plugin only reads files named *aws_ec2.yml
    copy.write_text(yaml.safe_dump(config))
    env = {
        "AWS_ACCESS_KEY_ID": aws_env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": aws_env["AWS_SECRET_ACCESS_KEY"],
        "AWS_SESSION_TOKEN": aws_env["AWS_SESSION_TOKEN"],
        "AWS_REGION": REGION,
        "K3S_CLUSTER_NAME": CLUSTER,
    }
    listing = ansible_inventory_list(cwd=tmp_path, inventory=copy, env=env)
    check_inventory(listing, expected_hostvars(stack, instances))


# --- Destroy (keep last) ------------------------------------------------------------------------


def test_destroy_leaves_nothing_behind(
    stack: Stack, instances: list[dict[str, Any]], aws: Callable[[str], Any]
) -> None:
    vpc_id = instances[0]["VpcId"]
    stack.tf.run("destroy", "-auto-approve", "-no-color")
    stack.destroyed = True
    ec2, iam, ecr = aws("ec2"), aws("iam"), aws("ecr")

    remaining = ec2.describe_instances(
        Filters=[
            {"Name": "tag:cluster", "Values": [CLUSTER]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )["Reservations"]
    assert remaining == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []
    assert (
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{CLUSTER}-nodes"]}])["SecurityGroups"]
        == []
    )
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"{CLUSTER}-admin"]}])["KeyPairs"] == []
    assert [r for r in ecr.describe_repositories()["repositories"] if r["repositoryName"].startswith(CLUSTER)] == []
    assert [b for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith(CLUSTER)] == []
    assert ec2.describe_volumes(Filters=[{"Name": "tag:cluster", "Values": [CLUSTER]}])["Volumes"] == []
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(CLUSTER)] == []
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert [
        p for p in iam.list_instance_profiles()["InstanceProfiles"] if p["InstanceProfileName"].startswith(CLUSTER)
    ] == []
    assert not Path(stack.outputs["inventory_path"]).exists(), "destroy should remove the generated inventory"
