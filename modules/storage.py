"""Core storage: the staging bucket for extracted files and the book-keeping table."""

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTableGlobalSecondaryIndex,
)
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import S3BucketOwnershipControls
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA
from constructs import Construct

# Noncurrent versions (overwritten retries of a chunk) are kept this long for forensics.
NONCURRENT_VERSION_DAYS = 7
# Multipart uploads of a crashed extract are removed after this many days.
ABORT_MULTIPART_DAYS = 1


class StagingBucket(Construct):
    """Private, KMS-encrypted, TLS-only, versioned bucket; objects under each prefix expire."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key_arn: str,
        expiry_days_by_prefix: dict[str, int],
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = S3Bucket(self, "bucket", bucket=name)
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
        )
        S3BucketPublicAccessBlock(
            self,
            "public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="aws:kms", kms_master_key_id=key_arn
                        )
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            rule=[
                *(
                    S3BucketLifecycleConfigurationRule(
                        id=f"expire-{prefix}",
                        status="Enabled",
                        filter=[S3BucketLifecycleConfigurationRuleFilter(prefix=f"{prefix}/")],
                        expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=days)],
                    )
                    for prefix, days in sorted(expiry_days_by_prefix.items())
                ),
                S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=NONCURRENT_VERSION_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=ABORT_MULTIPART_DAYS
                        )
                    ],
                ),
            ],
        )
        tls_only = DataAwsIamPolicyDocument(
            self,
            "tls-only",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="DenyInsecureTransport",
                    effect="Deny",
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])
                    ],
                    actions=["s3:*"],
                    resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="Bool", variable="aws:SecureTransport", values=["false"]
                        )
                    ],
                )
            ],
        )
        S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=tls_only.json)

    @property
    def name(self) -> str:
        return self.bucket.bucket

    @property
    def arn(self) -> str:
        return self.bucket.arn


class BookkeepingTable(Construct):
    """On-demand DynamoDB table with TTL, point-in-time recovery and CMK encryption."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key_arn: str,
        partition_key: str,
        sort_key: str,
        ttl_attribute: str,
        batch_index: str,
        batch_index_key: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = DynamodbTable(
            self,
            "table",
            name=name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=partition_key,
            range_key=sort_key,
            attribute=[
                DynamodbTableAttribute(name=key, type="S")
                for key in (partition_key, sort_key, batch_index_key)
            ],
            global_secondary_index=[
                DynamodbTableGlobalSecondaryIndex(
                    name=batch_index, hash_key=batch_index_key, projection_type="ALL"
                )
            ],
            ttl={"attribute_name": ttl_attribute, "enabled": True},
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True, "kms_key_arn": key_arn},
        )

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def arn(self) -> str:
        return self.table.arn
