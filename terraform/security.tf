# One security group for every node. Members talk to each other freely (k3s needs flannel VXLAN,
# kubelet, etcd and the API between nodes); from outside only SSH and the Kubernetes API (admins) and
# the app's NodePort (app_cidrs) are open.
#
# The rules are separate aws_security_group_rule resources: a rule that references the group itself
# is written with `self = true`, which settles on re-plan (aws_vpc_security_group_ingress_rule with a
# referenced group does not, against the test emulator).

locals {
  # Compared on the parsed prefix length, never on the text: "0.0.0.0/00" is a /0, and
  # ["0.0.0.0/1", "128.0.0.0/1"] is the whole internet in two halves. Anything wider than a /8
  # (IPv4) or a /32 (IPv6) counts as the world.
  world_admin_cidrs = [
    for cidr in var.admin_cidrs : cidr if tonumber(split("/", cidr)[1]) < (strcontains(cidr, ":") ? 32 : 8)
  ]
  # What the rules carry: the canonical network address and prefix ("10.0.0.0/8" for "10.1.2.3/08"),
  # the form AWS stores, so no spelling of a CIDR shows up as a change on the next plan.
  admin_cidrs = [for cidr in var.admin_cidrs : "${cidrhost(cidr, 0)}/${tonumber(split("/", cidr)[1])}"]
  app_cidrs   = [for cidr in var.app_cidrs : "${cidrhost(cidr, 0)}/${tonumber(split("/", cidr)[1])}"]
}

resource "aws_security_group" "nodes" {
  name        = "${var.cluster_name}-nodes"
  description = "k3s nodes of cluster ${var.cluster_name}"
  vpc_id      = local.vpc_id

  tags = {
    Name = "${var.cluster_name}-nodes"
  }

  lifecycle {
    precondition {
      condition     = var.allow_world_admin || length(local.world_admin_cidrs) == 0
      error_message = "admin_cidrs contains ${join(", ", local.world_admin_cidrs)}: a prefix shorter than /8 (IPv4) or /32 (IPv6) opens SSH and the Kubernetes API to a large part of the internet. Use your own address (e.g. 203.0.113.7/32), or set allow_world_admin = true on purpose."
    }
    precondition {
      condition     = (var.vpc_id == null) == (length(var.subnet_ids) == 0)
      error_message = "vpc_id and subnet_ids go together: set both to use an existing network, or neither to create one."
    }
  }
}

resource "aws_security_group_rule" "intra_cluster" {
  type              = "ingress"
  security_group_id = aws_security_group.nodes.id
  description       = "All traffic between cluster nodes (flannel VXLAN, kubelet, etcd, API)"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  self              = true
}

resource "aws_security_group_rule" "ssh" {
  #checkov:skip=CKV_AWS_24:The source is var.admin_cidrs, which has no default; validation and the precondition on aws_security_group.nodes reject any prefix shorter than /8 unless allow_world_admin is set on purpose (tested in tests/terraform).
  type              = "ingress"
  security_group_id = aws_security_group.nodes.id
  description       = "SSH from the admin networks (Ansible)"
  protocol          = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_blocks       = local.admin_cidrs
}

resource "aws_security_group_rule" "kube_api" {
  type              = "ingress"
  security_group_id = aws_security_group.nodes.id
  description       = "Kubernetes API (k3s servers) from the admin networks"
  protocol          = "tcp"
  from_port         = 6443
  to_port           = 6443
  cidr_blocks       = local.admin_cidrs
}

resource "aws_security_group_rule" "app_nodeport" {
  count = length(var.app_cidrs) > 0 ? 1 : 0

  type              = "ingress"
  security_group_id = aws_security_group.nodes.id
  description       = "App NodePort 30800 from the app networks"
  protocol          = "tcp"
  from_port         = 30800
  to_port           = 30800
  cidr_blocks       = local.app_cidrs
}

resource "aws_security_group_rule" "egress" {
  #checkov:skip=CKV_AWS_382:Nodes install OS packages, k3s and container images from public mirrors and registries whose addresses are not fixed; egress stays open by design.
  type              = "egress"
  security_group_id = aws_security_group.nodes.id
  description       = "All outbound traffic (packages, k3s, images, ECR)"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}
