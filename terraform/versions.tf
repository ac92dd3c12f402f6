terraform {
  # 1.6 is the oldest release this configuration is written for (terraform_data, preconditions).
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is the release the offline test mirror carries; any later 5.x stays compatible.
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region

  # Every taggable resource carries the cluster name, so a cost report or a cleanup finds all of it.
  default_tags {
    tags = merge(var.tags, {
      cluster    = var.cluster_name
      managed-by = "terraform"
    })
  }
}
