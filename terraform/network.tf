# A small public network: one subnet per availability zone, all routed to an internet gateway, or the
# VPC and subnets the operator already has (vpc_id + subnet_ids).

locals {
  create_network = var.vpc_id == null
  vpc_id         = local.create_network ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids     = local.create_network ? aws_subnet.public[*].id : [for id in var.subnet_ids : data.aws_subnet.given[id].id]
}

# Subnets the operator brought must belong to vpc_id and hand out public addresses: Ansible and the
# app's users reach every node on its public IP.
data "aws_subnet" "given" {
  for_each = toset(var.subnet_ids)
  id       = each.value

  lifecycle {
    postcondition {
      condition     = self.vpc_id == var.vpc_id
      error_message = "Subnet ${self.id} belongs to ${self.vpc_id}, not to vpc_id = ${coalesce(var.vpc_id, "null")}."
    }
    postcondition {
      condition     = self.map_public_ip_on_launch
      error_message = "Subnet ${self.id} does not assign public IPv4 addresses (map_public_ip_on_launch): the nodes need one for SSH and NodePort 30800."
    }
  }
}

data "aws_availability_zones" "available" {
  count = local.create_network ? 1 : 0
  state = "available"

  # Local Zones and Wavelength Zones lack most instance types.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs need a log destination and cost per GB; enable them in the account baseline (e.g. AWS Control Tower) rather than per demo cluster.
  count = local.create_network ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = "${var.cluster_name}-vpc"
  }
}

# The VPC's default security group is left with no rules, so nothing that lands in it by accident is
# reachable (the nodes use aws_security_group.nodes).
resource "aws_default_security_group" "this" {
  count  = local.create_network ? 1 : 0
  vpc_id = aws_vpc.this[0].id

  tags = {
    Name = "${var.cluster_name}-default-closed"
  }
}

resource "aws_internet_gateway" "this" {
  count  = local.create_network ? 1 : 0
  vpc_id = aws_vpc.this[0].id

  tags = {
    Name = "${var.cluster_name}-igw"
  }
}

resource "aws_subnet" "public" {
  #checkov:skip=CKV_AWS_130:These are the public subnets of the cluster: Ansible (SSH) and the app's users (NodePort 30800) reach every node on its public address; the security group limits who can.
  count = local.create_network ? var.az_count : 0

  vpc_id            = aws_vpc.this[0].id
  availability_zone = data.aws_availability_zones.available[0].names[count.index]
  # Four more prefix bits per zone (a /16 VPC gets /20 subnets): room for 16 subnets, so adding a
  # zone never renumbers the existing ones.
  cidr_block = cidrsubnet(var.vpc_cidr, 4, count.index)
  # Set on the subnet rather than per instance: the instance-level setting turns the launch into a
  # network-interface spec, which the test emulator does not map back to the instance's groups.
  map_public_ip_on_launch = true

  tags = {
    Name = "${var.cluster_name}-public-${data.aws_availability_zones.available[0].names[count.index]}"
  }

  lifecycle {
    precondition {
      condition     = length(data.aws_availability_zones.available[0].names) >= var.az_count
      error_message = "az_count = ${var.az_count} but region ${var.region} offers only ${length(data.aws_availability_zones.available[0].names)} availability zones."
    }
  }
}

resource "aws_route_table" "public" {
  count  = local.create_network ? 1 : 0
  vpc_id = aws_vpc.this[0].id

  tags = {
    Name = "${var.cluster_name}-public"
  }
}

resource "aws_route" "internet" {
  count = local.create_network ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count = local.create_network ? var.az_count : 0

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}
