"""The offline harness itself: the AWS emulator fixture and the Terraform helper."""

from __future__ import annotations

import pytest

from tests.helpers.terraform import Terraform, cli_config, moto_provider_override, provider_mirror


def test_moto_fixture_serves_the_ec2_api(aws_client) -> None:
    ec2 = aws_client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    try:
        listed = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
        assert vpc_id in listed
    finally:
        ec2.delete_vpc(VpcId=vpc_id)


def test_cli_config_restricts_installs_to_the_mirror(tmp_path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io").mkdir(parents=True)
    text = cli_config(mirror, tmp_path).read_text()
    assert f'path = "{mirror}"' in text
    assert 'exclude = ["registry.terraform.io/*/*"]' in text  # never falls back to the registry

    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeError, match="holds no registry.terraform.io"):
        provider_mirror()


@pytest.mark.usefixtures("terraform_ready")
def test_terraform_applies_against_moto_with_the_helper(tmp_path, moto_endpoint: str, aws_client) -> None:
    """init (mirror when given) -> apply -> destroy of one VPC, checked through boto3."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
        'resource "aws_vpc" "probe" {\n  cidr_block = "10.98.0.0/16"\n  tags = { Name = "harness-probe" }\n}\n'
        'output "vpc_id" {\n  value = aws_vpc.probe.id\n}\n'
    )
    (config / "moto_override.tf").write_text(moto_provider_override(moto_endpoint))
    tf = Terraform(chdir=config, workdir=tmp_path / "tf")
    tf.init()
    tf.run("apply", "-auto-approve", "-no-color")
    vpc_id = tf.output()["vpc_id"]

    ec2 = aws_client("ec2")
    vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpcs[0]["CidrBlock"] == "10.98.0.0/16"

    tf.run("destroy", "-auto-approve", "-no-color")
    remaining = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["harness-probe"]}])["Vpcs"]
    assert remaining == []
