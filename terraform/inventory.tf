# The Ansible inventory for this cluster, rendered from templates/inventory.yml.tftpl and written to
# inventory/terraform.yml (the default inventory in ansible.cfg) by `terraform apply` itself.
#
# Only the AWS provider is used (no hashicorp/local): terraform_data is built into Terraform, and its
# local-exec provisioner writes the file whenever the rendered content changes. `terraform destroy`
# removes the file, so no inventory points at terminated nodes. The same text is the `inventory`
# output, for CI or a lost file: terraform -chdir=terraform output -raw inventory > inventory/terraform.yml

locals {
  # Relative to this directory, which is where local-exec runs (terraform -chdir=terraform ...).
  inventory_file = "../inventory/terraform.yml"

  inventory_hosts = {
    for name, node in local.nodes : name => {
      name       = name
      public_ip  = aws_instance.node[name].public_ip
      private_ip = aws_instance.node[name].private_ip
      # "" when the node keeps its data on the root volume (data_volume_size = 0).
      data_volume_id = try(aws_ebs_volume.data[name].id, "")
    }
  }

  inventory = templatefile("${path.module}/templates/inventory.yml.tftpl", {
    cluster_name       = var.cluster_name
    region             = var.region
    ansible_user       = local.ansible_user
    ecr_repository_url = aws_ecr_repository.app.repository_url
    backup_destination = local.backup_destination
    app_cidrs          = local.app_cidrs
    servers            = [for node in local.servers : local.inventory_hosts[node.name]]
    agents             = [for node in local.agents : local.inventory_hosts[node.name]]
  })
}

resource "terraform_data" "inventory" {
  # New content replaces this resource: the destroy step removes the old file, the create step
  # writes the new one.
  triggers_replace = local.inventory
  input = {
    file = local.inventory_file
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    # Written next to the target and renamed, so a reader never sees half a file.
    command = "mkdir -p \"$(dirname \"$TARGET\")\" && printf '%s' \"$CONTENT\" > \"$TARGET.tmp\" && mv \"$TARGET.tmp\" \"$TARGET\""
    environment = {
      TARGET  = local.inventory_file
      CONTENT = local.inventory
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    command     = "rm -f \"$TARGET\""
    environment = {
      TARGET = self.input.file
    }
  }
}
