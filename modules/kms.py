"""The environment's customer-managed KMS key, which every Reef resource encrypts with."""

import json

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

# Services that encrypt or decrypt Reef's data with the key on Reef's behalf: SNS and SQS
# (encrypted topics delivering to encrypted queues), Lambda (environment variables),
# Kinesis (the stream), EventBridge (its dead-letter queue) and CloudWatch (alarms that
# publish to the encrypted alarm topic).
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
_SERVICES = (
    "sns.amazonaws.com",
    "sqs.amazonaws.com",
    "lambda.amazonaws.com",
    "kinesis.amazonaws.com",
    "events.amazonaws.com",
    "cloudwatch.amazonaws.com",
)


class EncryptionKey(Construct):
    """A rotating KMS key with an alias, usable by the account and by Reef's AWS services."""

    def __init__(
        self, scope: Construct, construct_id: str, *, alias: str, account: str, region: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = KmsKey(
            self,
            "key",
            description=f"Reef: encrypts queues, topics, logs, staging files ({alias})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(account, region),
        )
        KmsAlias(self, "alias", name=alias, target_key_id=self.key.key_id)

    @property
    def arn(self) -> str:
        return self.key.arn


def key_policy(account: str, region: str) -> str:
    """The key policy as JSON: in a key policy, Resource "*" means this key only."""
    # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    statements = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ReefServicesUseKey",
            "Effect": "Allow",
            "Principal": {"Service": list(_SERVICES)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
        {
            # CloudWatch Logs names itself by region and binds use to this account's groups.
            # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
            "Sid": "LogsUseKey",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Decrypt",
                "kms:Describe*",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:aws:logs:{region}:{account}:log-group:*"
                    )
                }
            },
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
