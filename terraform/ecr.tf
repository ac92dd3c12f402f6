# The private registry for the app image.

locals {
  ecr_repository_name = coalesce(var.ecr_repository_name, "${var.cluster_name}/app")
}

resource "aws_ecr_repository" "app" {
  name                 = local.ecr_repository_name
  image_tag_mutability = "IMMUTABLE" # a tag names one image forever: deployments are reproducible
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn # null: the AWS-managed aws/ecr key
  }
}

# What a lifecycle policy can express (docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html,
# "Lifecycle policy evaluation rules"; lifecycle_policy_parameters.html): rules select images by tag
# status and tag prefix or pattern, and expire by count or age; there is no "keep" action. But an
# image that matches the tagging requirements of a higher-priority rule can never be expired by a
# lower-priority one. site.yml adds the tag "deployed-<tag>" to the image it deploys (the repository's
# tags are immutable, so a marker cannot move), and rule 1 selects those images with a count no
# repository reaches (the AWS CDK's documented way to protect tags: maxImageCount 9999). Rule 2 then
# keeps the newest ecr_keep_images of everything and expires the rest, never a deployed image.
locals {
  ecr_deployed_tag_prefix = "deployed-"
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Never expire an image a deployment uses (tagged ${local.ecr_deployed_tag_prefix}* by site.yml)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [local.ecr_deployed_tag_prefix]
          countType     = "imageCountMoreThan"
          countNumber   = 9999
        }
        action = {
          type = "expire"
        }
      },
      {
        rulePriority = 2
        description  = "Keep the last ${var.ecr_keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = {
          type = "expire"
        }
      },
    ]
  })
}
