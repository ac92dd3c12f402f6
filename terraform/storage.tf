# Optional data volume per node (data_volume_size > 0): an encrypted gp3 EBS volume of its own,
# attached as a second disk, which the `common` role formats once and mounts where k3s' local-path
# provisioner keeps its volumes (/var/lib/rancher/k3s/storage, so PostgreSQL's claim lives on it).
#
# A separate volume outlives its instance: EC2 preserves a data volume attached after launch when the
# instance terminates (DeleteOnTermination is false for it; docs.aws.amazon.com/AWSEC2/latest/
# UserGuide/preserving-volumes-on-termination.html), and `terraform apply -replace` of a node
# attaches the same volume to the replacement. Its zone comes from the node's subnet, never from the
# instance, so replacing the instance cannot replace the volume.

locals {
  subnet_azs = local.create_network ? aws_subnet.public[*].availability_zone : [for id in var.subnet_ids : data.aws_subnet.given[id].availability_zone]
  data_nodes = var.data_volume_size > 0 ? local.nodes : {}
}

resource "aws_ebs_volume" "data" {
  for_each = local.data_nodes

  availability_zone = local.subnet_azs[each.value.index % length(local.subnet_azs)]
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.kms_key_arn

  tags = {
    Name = "${each.key}-data"
    node = each.key
  }
}

resource "aws_volume_attachment" "data" {
  for_each = local.data_nodes

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[each.key].id
  instance_id = aws_instance.node[each.key].id
  # Never detach a mounted file system from a running node: destroying the attachment (with the stack,
  # or when a node is replaced) only forgets it, and terminating the instance releases the volume.
  skip_destroy = true
}
