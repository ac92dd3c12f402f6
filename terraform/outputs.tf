output "server_public_ips" {
  description = "Public IPs of the k3s servers, first server (the one that initialised the cluster) first."
  value       = [for node in local.servers : aws_instance.node[node.name].public_ip]
}

output "server_private_ips" {
  description = "Private IPs of the k3s servers (k3s_node_ip)."
  value       = [for node in local.servers : aws_instance.node[node.name].private_ip]
}

output "agent_public_ips" {
  description = "Public IPs of the k3s agents."
  value       = [for node in local.agents : aws_instance.node[node.name].public_ip]
}

output "agent_private_ips" {
  description = "Private IPs of the k3s agents (k3s_node_ip)."
  value       = [for node in local.agents : aws_instance.node[node.name].private_ip]
}

output "app_urls" {
  description = "The app's NodePort on every node; each one answers once site.yml has run."
  value       = [for node in concat(local.servers, local.agents) : "http://${aws_instance.node[node.name].public_ip}:30800/"]
}

output "kube_api_url" {
  description = "Kubernetes API of the first server (reachable from admin_cidrs)."
  value       = "https://${aws_instance.node[local.servers[0].name].public_ip}:6443"
}

output "ecr_repository_url" {
  description = "Push the app image here (docker push <url>:<tag>); the nodes can pull it."
  value       = aws_ecr_repository.app.repository_url
}

output "ssh_command" {
  description = "SSH into the first server."
  value       = "ssh ${local.ansible_user}@${aws_instance.node[local.servers[0].name].public_ip}"
}

output "ansible_user" {
  description = "Login user of the chosen image (admin on Debian, ubuntu on Ubuntu)."
  value       = local.ansible_user
}

output "inventory_path" {
  description = "Where apply wrote the Ansible inventory."
  value       = abspath("${path.module}/${local.inventory_file}")
}

output "inventory" {
  description = "The Ansible inventory text that apply writes to inventory_path."
  value       = local.inventory
}

output "github_push_role_arn" {
  description = "Role the GitHub workflow assumes (OIDC) to push the app image; set it as the repository variable AWS_PUSH_ROLE_ARN. Null when github_repository is unset."
  value       = local.github_enabled ? aws_iam_role.github_push[0].arn : null
}

output "github_actions_variables" {
  description = "The repository variables (not secrets: none of them is a credential) the workflow's publish job reads: gh variable set NAME --body VALUE. Null when github_repository is unset."
  value = local.github_enabled ? {
    AWS_REGION        = var.region
    AWS_PUSH_ROLE_ARN = aws_iam_role.github_push[0].arn
    ECR_REPOSITORY    = aws_ecr_repository.app.name
  } : null
}

output "backup_destination" {
  description = "Where the nightly PostgreSQL backups go (s3://<bucket>/<prefix>); list them with: aws s3 ls <destination>/"
  value       = local.backup_destination
}

output "data_volume_ids" {
  description = "The data volume of each node (data_volume_size > 0), by node name; empty when the data lives on the root volumes."
  value       = { for name, volume in aws_ebs_volume.data : name => volume.id }
}
