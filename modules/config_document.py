"""The runtime config document of a connector, stored as an object in the staging bucket."""

from cdktf_cdktf_provider_aws.s3_object import S3Object
from constructs import Construct


def config_object(
    scope: Construct, construct_id: str, *, bucket: str, key: str, document: str, key_arn: str
) -> S3Object:
    """Write `document` (JSON) at `key`; functions read it once per cold start."""
    return S3Object(
        scope,
        construct_id,
        bucket=bucket,
        key=key,
        content=document,
        content_type="application/json",
        server_side_encryption="aws:kms",
        kms_key_id=key_arn,
    )
