# Off-cluster backups of PostgreSQL: a private, versioned, encrypted bucket, and the instance role's
# rights on it. The nightly job (roles/postgres, a systemd timer on the first server) streams
# `pg_dump -Fc` into <bucket>/<backup_prefix>/ with the node's instance profile.
#
# The role may put, get and list under the prefix and nothing more: no delete, no version listing,
# no bucket settings. Retention is the lifecycle rule below, so a compromised node cannot erase the
# backups; an overwrite only makes the old object a noncurrent version, which the lifecycle keeps
# for backup_retention_days more.

locals {
  backup_prefix      = var.backup_prefix
  backup_destination = "s3://${aws_s3_bucket.backups.id}/${local.backup_prefix}"
}

resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_18:Server access logs need a second bucket and a reader; the instance role's API calls are in CloudTrail, which the account baseline keeps.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the storage bill; the bucket already lives outside the cluster it protects. Replicate in the account baseline if a region outage must be survived.
  #checkov:skip=CKV2_AWS_62:Nothing consumes event notifications; a failed backup shows in the node's journal (systemctl status k3s-pg-backup).
  # bucket_prefix: bucket names are global, Terraform appends a unique suffix.
  bucket        = var.backup_bucket_name
  bucket_prefix = var.backup_bucket_name == null ? "${var.cluster_name}-backups-" : null
  force_destroy = var.backup_force_destroy
}

resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn # null: the AWS-managed aws/s3 key
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket = aws_s3_bucket.backups.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket owner owns every object, whoever wrote it.
resource "aws_s3_bucket_ownership_controls" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  # Lifecycle rules on a versioned bucket: versioning must be on first.
  depends_on = [aws_s3_bucket_versioning.backups]

  rule {
    id     = "expire-backups"
    status = "Enabled"

    filter {
      prefix = "${local.backup_prefix}/"
    }

    expiration {
      days = var.backup_retention_days
    }

    # Overwritten or expired dumps stay recoverable for as long again.
    noncurrent_version_expiration {
      noncurrent_days = var.backup_retention_days
    }
  }

  # The node has no right to abort an upload: a dump that failed half-way is never completed (never
  # visible as an object), and its parts are dropped here, anywhere in the bucket.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "backups_bucket" {
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "backups" {
  bucket = aws_s3_bucket.backups.id
  policy = data.aws_iam_policy_document.backups_bucket.json
  # The public access block must exist before a bucket policy is judged against it.
  depends_on = [aws_s3_bucket_public_access_block.backups]
}

# Multipart uploads (how a stream of unknown size is uploaded) need only s3:PutObject: S3's
# "Multipart upload API and permissions" table lists it for CreateMultipartUpload, UploadPart and
# CompleteMultipartUpload (docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
# Reading a backup back is s3:GetObject; the restore pins the object by ETag (If-Match), not by
# version id, so s3:GetObjectVersion is not needed either.
data "aws_iam_policy_document" "backups_write" {
  statement {
    sid       = "ListTheBackups"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.backup_prefix}/", "${local.backup_prefix}/*"]
    }
  }

  statement {
    sid       = "WriteAndReadTheBackups"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.backups.arn}/${local.backup_prefix}/*"]
  }

  # A customer-managed key must let the role encrypt and decrypt through S3 (the AWS-managed aws/s3
  # key needs no grant).
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTheBucketKeyThroughS3"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "backups_write" {
  name   = "postgres-backups"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.backups_write.json
}
