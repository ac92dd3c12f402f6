#!/usr/bin/env bash
# The whole deploy, first or later: `make deploy` runs this.
#   1. terraform apply          the AWS stack; writes inventory/terraform.yml
#   2. playbooks/wait.yml       SSH answers and cloud-init is done on every node
#   3. playbooks/image.yml      the app image, built here and pushed to the stack's ECR repository
#   4. site.yml                 checks the image is there, then k3s, PostgreSQL, the app, verify
# TF_ARGS go to `terraform apply` (e.g. -auto-approve, -var-file=prod.tfvars); ANSIBLE_ARGS to the
# playbooks (e.g. "-e app_replicas=3"). What it needs is checked before anything is created.
set -euo pipefail
shopt -s extglob
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

read -r -a tf_args <<<"${TF_ARGS:-}"
read -r -a ansible_args <<<"${ANSIBLE_ARGS:-}"

preflight() {
  command -v terraform >/dev/null || die "terraform is not installed (https://developer.hashicorp.com/terraform/install). Nothing was created."
  command -v ansible-playbook >/dev/null || die "ansible-playbook is not on PATH: run make setup (make deploy does). Nothing was created."
  # The files terraform loads by itself (terraform.tfvars.example is not one of them).
  if ! compgen -G "terraform/terraform.tfvars?(.json)" >/dev/null && ! compgen -G "terraform/*.auto.tfvars?(.json)" >/dev/null \
      && [[ " ${tf_args[*]} " != *" -var-file"* ]]; then
    die "terraform/terraform.tfvars is missing: cp terraform/terraform.tfvars.example terraform/terraform.tfvars
and set region, admin_cidrs (your address: curl -s https://checkip.amazonaws.com) and ssh_public_key
(the line of ~/.ssh/id_ed25519.pub). Nothing was created."
  fi
  docker info >/dev/null 2>&1 || die "no Docker engine answers: the app image is built on this machine. Start Docker and run make deploy again. Nothing was created."
  local who
  who="$(python - <<'PY' 2>&1
import boto3
identity = boto3.client("sts").get_caller_identity()
print(f"{identity['Account']} as {identity['Arn']}")
PY
)" || die "no usable AWS credentials (${who##*$'\n'}): set AWS_PROFILE, or run aws configure / aws sso login. Nothing was created."
  note "AWS account $who"
}

say "Checking what the deploy needs"
preflight

say "1/4 terraform apply (writes inventory/terraform.yml)"
terraform -chdir=terraform init -input=false >/dev/null
terraform -chdir=terraform apply "${tf_args[@]}"

say "2/4 Waiting for SSH and cloud-init on every node"
ansible-playbook playbooks/wait.yml "${ansible_args[@]}"

say "3/4 Building the app image and pushing it to ECR"
ansible-playbook playbooks/image.yml "${ansible_args[@]}"

say "4/4 site.yml: k3s, PostgreSQL, the app, then every node checked on NodePort 30800"
ansible-playbook site.yml "${ansible_args[@]}"

say "Deployed"
note "kubectl --kubeconfig ./kubeconfig get nodes"
note "make destroy removes every AWS resource of the stack"
