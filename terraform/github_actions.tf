# Continuous delivery without stored AWS keys: GitHub Actions of one repository trade their OIDC token
# for short-lived credentials of a role that can push to this stack's ECR repository and nothing else.
# Everything here exists only when var.github_repository is set.
#
# Sources this follows (see docs/delivery.md):
# - aws-actions/configure-aws-credentials README (v6.2.3), "Configuring IAM to trust GitHub": provider URL
#   https://token.actions.githubusercontent.com, audience sts.amazonaws.com, and "the thumbprint, if
#   specified, will be ignored". AWS has validated GitHub's JWKS endpoint against its own trusted root
#   CAs since 6 July 2023 (IAM API reference, UpdateOpenIDConnectProviderThumbprint; aws/aws-sdk#563).
#   hashicorp/terraform-provider-aws#37255 made thumbprint_list optional (optional + computed in 5.100),
#   so no thumbprint is pinned here: a pinned one would only go stale on GitHub's next rotation.
# - The same README, "Immutable subject claims": repositories created on github.com from 15 July 2026
#   (and older ones that opt in) send `repo:owner@ORG_ID/name@REPO_ID:...` as `sub`; var.github_repository
#   takes that form too, and the trust policy matches `sub` exactly as the repository sends it.
# - Amazon ECR user guide, "IAM permissions for pushing an image": the push actions below.

locals {
  github_enabled = var.github_repository != null
  github_oidc_provider_arn = (
    !local.github_enabled ? null :
    var.github_oidc_provider_arn != null ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
  )
  # GitHub's token `sub` for a push to main and for a tag (no `environment:` on the job, default claim
  # template). A pull request's token says `repo:<repository>:pull_request` and matches neither.
  github_main_subject    = local.github_enabled ? "repo:${var.github_repository}:ref:refs/heads/main" : null
  github_release_subject = local.github_enabled ? "repo:${var.github_repository}:ref:refs/tags/v*" : null
}

# One provider per URL and account: an account that already trusts GitHub passes its ARN instead.
resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "github_push_assume" {
  count = local.github_enabled ? 1 : 0

  # Two statements, so the branch is matched exactly (StringEquals) and only the tags use a wildcard.
  statement {
    sid     = "GitHubMainBranch"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.github_main_subject]
    }
  }

  statement {
    sid     = "GitHubReleaseTags"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.github_release_subject]
    }
  }
}

data "aws_iam_policy_document" "ecr_push" {
  count = local.github_enabled ? 1 : 0

  statement {
    sid = "PushTheAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages", # is this commit's tag already there? (the repository refuses a second push)
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
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

resource "aws_iam_role" "github_push" {
  count = local.github_enabled ? 1 : 0

  name                 = "${var.cluster_name}-github-push-${var.region}"
  description          = "GitHub Actions of ${var.github_repository} (main, v* tags): push the app image to ECR"
  assume_role_policy   = data.aws_iam_policy_document.github_push_assume[0].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "ecr_push" {
  count = local.github_enabled ? 1 : 0

  name   = "ecr-push-app"
  role   = aws_iam_role.github_push[0].id
  policy = data.aws_iam_policy_document.ecr_push[0].json
}
