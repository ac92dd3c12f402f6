# The nodes' instance role: pull the app image from this project's ECR repository (here) and write and
# read the PostgreSQL backups under their prefix (backup.tf), nothing else.

data "aws_iam_policy_document" "node_assume" {
  statement {
    sid     = "Ec2AssumesTheNodeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ecr_pull" {
  statement {
    sid = "PullTheAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.app.arn]
  }

  # The registry login token is account-wide: this action cannot be scoped to a repository.
  statement {
    sid       = "LogInToTheRegistry"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}

# IAM names are global to the account: the region keeps two clusters of the same name apart.
resource "aws_iam_role" "node" {
  name               = "${var.cluster_name}-node-${var.region}"
  description        = "k3s nodes of cluster ${var.cluster_name}: pull the app image from ECR, write and read the database backups"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

resource "aws_iam_role_policy" "ecr_pull" {
  name   = "ecr-pull-app"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.ecr_pull.json
}

resource "aws_iam_instance_profile" "node" {
  name = "${var.cluster_name}-node-${var.region}"
  role = aws_iam_role.node.name
}
