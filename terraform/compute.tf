# The nodes: server_count servers and agent_count agents, from the official Debian 12 or Ubuntu 24.04
# image, IMDSv2 only, encrypted gp3 root volumes, spread over the subnets.

locals {
  # Images are found by owner account (the publisher), never by name alone: anyone can publish an
  # AMI called "debian-12-...".
  ami_arch = var.architecture == "x86_64" ? "amd64" : "arm64"
  os_images = {
    debian12 = {
      owner = "136693071363" # Debian
      name  = "debian-12-${local.ami_arch}-*"
      user  = "admin"
    }
    ubuntu2404 = {
      owner = "099720109477" # Canonical
      name  = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${local.ami_arch}-server-*"
      user  = "ubuntu"
    }
  }
  os_image     = local.os_images[var.os]
  ami_id       = var.ami_id != null ? var.ami_id : data.aws_ami.os[0].id
  ansible_user = local.os_image.user

  # Ordered lists (the first server initialises the cluster) and one map keyed by host name for
  # for_each: adding agents never renumbers or replaces servers. Each role is spread over the
  # subnets by its own index, so scaling one role never moves nodes of the other.
  servers = [for i in range(var.server_count) : {
    name          = "${var.cluster_name}-server-${i + 1}"
    role          = "server"
    instance_type = var.server_instance_type
    index         = i
  }]
  agents = [for i in range(var.agent_count) : {
    name          = "${var.cluster_name}-agent-${i + 1}"
    role          = "agent"
    instance_type = var.agent_instance_type
    index         = i
  }]
  nodes = { for node in concat(local.servers, local.agents) : node.name => node }
}

data "aws_ami" "os" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = [local.os_image.owner]

  filter {
    name   = "name"
    values = [local.os_image.name]
  }

  filter {
    name   = "architecture"
    values = [var.architecture]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

resource "aws_key_pair" "admin" {
  key_name   = "${var.cluster_name}-admin"
  public_key = trimspace(var.ssh_public_key)
}

resource "aws_instance" "node" {
  #checkov:skip=CKV_AWS_126:Detailed (1-minute) monitoring is billed per instance; basic monitoring is enough for a small cluster and workload metrics come from inside the cluster.
  for_each = local.nodes

  ami                    = local.ami_id
  instance_type          = each.value.instance_type
  subnet_id              = local.subnet_ids[each.value.index % length(local.subnet_ids)]
  vpc_security_group_ids = [aws_security_group.nodes.id]
  key_name               = aws_key_pair.admin.key_name
  iam_instance_profile   = aws_iam_instance_profile.node.name
  ebs_optimized          = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required" # IMDSv2 only
    # One hop: processes on the node (kubelet pulling from ECR) reach the metadata service, pods
    # behind the CNI bridge cannot borrow the node's role.
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = var.kms_key_arn
    delete_on_termination = true
  }

  tags = merge(
    {
      Name     = each.key
      cluster  = var.cluster_name
      k3s-role = each.value.role
      os       = var.os
      # Read by inventory/aws_ec2.yml, so the dynamic inventory knows what terraform.yml knows.
      ssh-user           = local.ansible_user
      ecr-repository-url = aws_ecr_repository.app.repository_url
      backup-destination = local.backup_destination
      # Space-separated; empty when the app is private (app_cidrs = []).
      app-cidrs = join(" ", local.app_cidrs)
    },
    # The node's own data volume (storage.tf), which the common role mounts.
    var.data_volume_size > 0 ? { data-volume-id = aws_ebs_volume.data[each.key].id } : {},
  )

  lifecycle {
    # A newer image must not replace running nodes on the next apply; upgrades go through
    # playbooks/upgrade.yml. Replace a node on purpose with `terraform apply -replace=...`.
    ignore_changes = [ami]
  }
}
