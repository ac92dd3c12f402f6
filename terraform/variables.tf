# Inputs of the stack. Cross-variable rules (admin_cidrs vs allow_world_admin, vpc_id vs subnet_ids)
# are preconditions in security.tf, because variable validation may only see its own variable
# before Terraform 1.9.

variable "region" {
  description = "AWS region to deploy into, e.g. eu-west-1. No default: the region is a deliberate choice."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1 or us-east-2."
  }
}

variable "cluster_name" {
  description = "Name of the cluster: prefixes every resource name and is the value of the `cluster` tag the dynamic inventory filters on."
  type        = string
  default     = "k3s"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Extra tags for every resource (e.g. owner, cost-center). `cluster` and `managed-by` are always set."
  type        = map(string)
  default     = {}
}

# --- Network -------------------------------------------------------------------------------------

variable "vpc_id" {
  description = "Existing VPC to deploy into. Null (default) creates a VPC; when set, subnet_ids must be set too."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0 (or be null to create a VPC)."
  }
}

variable "subnet_ids" {
  description = "Existing public subnets (with a route to an internet gateway) for the nodes, used with vpc_id. Nodes are spread over them in order."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "subnet_ids must be subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when vpc_id is null. Keep it clear of the k3s pod and service ranges (10.42.0.0/16, 10.43.0.0/16)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition = (
      can(regex("^[0-9.]+/[0-9]+$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0)) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    )
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix between /16 and /24, e.g. 10.20.0.0/16."
  }
}

variable "az_count" {
  description = "Number of availability zones (one public subnet each) the created VPC spans; nodes are spread over them."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 6: the cluster spans at least two availability zones."
  }
}

# --- Access --------------------------------------------------------------------------------------

variable "admin_cidrs" {
  description = "IPv4 CIDRs allowed to reach SSH (22) and the Kubernetes API (6443), e.g. [\"203.0.113.7/32\"]. Required; a prefix shorter than /8 (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1) needs allow_world_admin = true."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0
    error_message = "admin_cidrs must list at least one CIDR: SSH and the Kubernetes API are closed to everyone else."
  }

  validation {
    condition     = alltrue([for cidr in var.admin_cidrs : can(regex("^[0-9.]+/[0-9]+$", cidr)) && can(cidrhost(cidr, 0))])
    error_message = "admin_cidrs must contain only IPv4 CIDRs such as 203.0.113.7/32 (an address alone is not a CIDR)."
  }
}

variable "allow_world_admin" {
  description = "Set to true, on purpose, to accept admin_cidrs wider than a /8, such as 0.0.0.0/0 (SSH and the Kubernetes API open to the internet)."
  type        = bool
  default     = false
}

variable "app_cidrs" {
  description = "IPv4 CIDRs allowed to reach the app's NodePort 30800. An empty list keeps the app private."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for cidr in var.app_cidrs : can(regex("^[0-9.]+/[0-9]+$", cidr)) && can(cidrhost(cidr, 0))])
    error_message = "app_cidrs must contain only IPv4 CIDRs such as 0.0.0.0/0 or 198.51.100.0/24."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key (one line) installed for the login user of every node, e.g. the content of ~/.ssh/id_ed25519.pub. EC2 imports ed25519 and RSA keys only."
  type        = string

  # The key's form is checked here, before anything is created: EC2's ImportKeyPair takes RSA and
  # ED25519 keys only (EC2 API reference, ImportKeyPair), and a malformed key fails the apply half
  # way (InvalidKeyPair.Format). The base64 blob starts with the encoded key type; an ed25519 blob
  # is exactly 68 characters (4+11 bytes of type, 4+32 of key), a 2048-bit or larger RSA blob at
  # least 372 and a multiple of 4.
  validation {
    condition = (
      can(regex("^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}(\\s.*)?$", trimspace(var.ssh_public_key))) ||
      (
        can(regex("^ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/]{355,}={0,2}(\\s.*)?$", trimspace(var.ssh_public_key))) &&
        length(split(" ", trimspace(var.ssh_public_key))[1]) % 4 == 0
      )
    )
    error_message = "ssh_public_key must be one OpenSSH public key line of a type EC2 imports: ssh-ed25519 (or ssh-rsa, 2048 bits or more) followed by the whole base64 key, e.g. the content of ~/.ssh/id_ed25519.pub (ssh-keygen -t ed25519 makes one). A placeholder or a truncated key is not a key."
  }
}

# --- Nodes ---------------------------------------------------------------------------------------

variable "server_count" {
  description = "Number of k3s servers. 1 runs a single control plane; 3 or 5 run embedded etcd with a quorum."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 3, 5], var.server_count)
    error_message = "server_count must be 1, 3 or 5: embedded etcd needs an odd number of members to keep a quorum."
  }
}

variable "agent_count" {
  description = "Number of k3s agents (workers). 0 runs the workloads on the servers."
  type        = number
  default     = 2

  validation {
    condition     = var.agent_count >= 0 && var.agent_count <= 50 && floor(var.agent_count) == var.agent_count
    error_message = "agent_count must be a whole number from 0 to 50."
  }
}

variable "server_instance_type" {
  description = "EC2 instance type of the servers (k3s control plane and etcd want 2 vCPU / 4 GiB at least)."
  type        = string
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.server_instance_type))
    error_message = "server_instance_type must be an EC2 instance type such as t3.medium."
  }
}

variable "agent_instance_type" {
  description = "EC2 instance type of the agents."
  type        = string
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.agent_instance_type))
    error_message = "agent_instance_type must be an EC2 instance type such as t3.medium."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of every node's encrypted gp3 root volume (container images and the Postgres volume live there)."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_size >= 20 && var.root_volume_size <= 1024 && floor(var.root_volume_size) == var.root_volume_size
    error_message = "root_volume_size must be a whole number of GiB from 20 to 1024."
  }
}

variable "os" {
  description = "Operating system of the nodes: debian12 (default) or ubuntu2404. Selects the AMI lookup and the SSH login user."
  type        = string
  default     = "debian12"

  validation {
    condition     = contains(["debian12", "ubuntu2404"], var.os)
    error_message = "os must be debian12 or ubuntu2404."
  }
}

variable "architecture" {
  description = "CPU architecture of the AMI: x86_64 (t3, m6i...) or arm64 (t4g, m7g...). Must match the instance types."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI id that overrides the lookup (a hardened or pre-baked image of the chosen os). Null uses the newest official image."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-([0-9a-f]{8}|[0-9a-f]{17})$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0 (or be null to look the image up)."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key (key ARN) for the root volumes and the ECR repository; its key policy must let EC2 use it. Null uses the AWS-managed keys (aws/ebs, aws/ecr)."
  type        = string
  default     = null

  validation {
    # A key ARN, not an alias: AWS reports the key ARN back, and an alias would show as a change on every plan.
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN such as arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (or null for the AWS-managed keys)."
  }
}

# --- Registry ------------------------------------------------------------------------------------

variable "ecr_repository_name" {
  description = "Name of the private ECR repository for the app image. Null uses \"<cluster_name>/app\"."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_name == null || can(regex("^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", var.ecr_repository_name))
    error_message = "ecr_repository_name must be lowercase letters, digits and . _ - / separators, e.g. k3s/app."
  }
}

variable "ecr_keep_images" {
  description = "The ECR lifecycle policy keeps this many most recent images and expires older ones; an image site.yml deployed (tagged deployed-<tag>) is never expired."
  type        = number
  default     = 20

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number from 1 to 1000."
  }
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete the ECR repository even when it still holds images."
  type        = bool
  default     = false
}

# --- Continuous delivery (GitHub Actions) ----------------------------------------------------------

variable "github_repository" {
  description = "GitHub repository whose Actions may push the app image, as its OIDC `sub` names it: \"owner/name\", or \"owner@ORG_ID/name@REPO_ID\" for repositories that send immutable subject claims (created from 15 July 2026, or opted in). Only its main branch and v* tags are trusted. Null (default) creates no OIDC provider and no push role."
  type        = string
  default     = null

  validation {
    # GitHub owners are letters, digits and hyphens; repository names add . and _. No wildcards: a
    # `*` here would widen the trust policy to repositories nobody chose.
    condition = var.github_repository == null || can(regex(
      "^([A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}|[A-Za-z0-9][A-Za-z0-9-]{0,38}@[0-9]+/[A-Za-z0-9._-]{1,100}@[0-9]+)$",
      var.github_repository
    ))
    error_message = "github_repository must be \"owner/name\" (e.g. octo-org/k3s-platform) or, with immutable subject claims, \"owner@ORG_ID/name@REPO_ID\" (e.g. octo-org@123456/k3s-platform@789012); no wildcards."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub OIDC provider (token.actions.githubusercontent.com). AWS allows one per account: set this when another stack already created it. Null creates one (only when github_repository is set)."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be the ARN of a token.actions.githubusercontent.com provider, e.g. arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com (or null to create one)."
  }
}

# --- Database backups and data volumes -----------------------------------------------------------

variable "backup_bucket_name" {
  description = "Name of the S3 bucket for the PostgreSQL backups. Null (default) generates a unique name starting with \"<cluster_name>-backups-\"."
  type        = string
  default     = null

  validation {
    condition     = var.backup_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.backup_bucket_name))
    error_message = "backup_bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "backup_prefix" {
  description = "Folder (key prefix) of the backups inside the bucket; the nodes may write and read only under it."
  type        = string
  default     = "postgres"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.backup_prefix))
    error_message = "backup_prefix must be 1-63 lowercase letters, digits and hyphens, starting with a letter or digit (no slashes)."
  }
}

variable "backup_retention_days" {
  description = "Days a backup is kept (the bucket's lifecycle rule expires it after that); an overwritten or expired backup stays recoverable as an old version for as many days again."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "backup_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "backup_force_destroy" {
  description = "Let terraform destroy delete the backup bucket while it still holds backups (and every old version of them). Off: destroy stops at a non-empty bucket."
  type        = bool
  default     = false
}

variable "data_volume_size" {
  description = "Size in GiB of a dedicated encrypted gp3 EBS volume per node for the local-path volumes (PostgreSQL's data), which outlives the instance. 0 (default) keeps the data on the root volume."
  type        = number
  default     = 0

  validation {
    condition     = var.data_volume_size == 0 || (var.data_volume_size >= 1 && var.data_volume_size <= 16384 && floor(var.data_volume_size) == var.data_volume_size)
    error_message = "data_volume_size must be 0 (data on the root volume) or a whole number of GiB from 1 to 16384."
  }
}
