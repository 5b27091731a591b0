"""Topics and work queues: the SNS and SQS wiring between a connector's functions."""

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

# SQS allows 14 days at most; dead letters are kept that long, longer than any work queue.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
WORK_RETENTION_SECONDS = 4 * 24 * 3600
# AWS advises at least 5 receives before dead-lettering, so that throttled or briefly
# failing batches are not dead-lettered; Reef's transient errors retry through SQS.
MAX_RECEIVE_COUNT = 5
# AWS advises a visibility timeout of at least six times the function's timeout for queues
# that trigger Lambda, so retries of throttled invocations keep the message hidden.
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
VISIBILITY_TIMEOUT_FACTOR = 6


def encrypted_topic(scope: Construct, construct_id: str, *, name: str, key_arn: str) -> SnsTopic:
    """An SNS topic encrypted with the environment's key."""
    return SnsTopic(scope, construct_id, name=name, kms_master_key_id=key_arn)


def dead_letter_queue(scope: Construct, construct_id: str, *, name: str, key_arn: str) -> SqsQueue:
    """An encrypted queue that keeps failed messages for the longest time SQS allows."""
    return SqsQueue(
        scope,
        construct_id,
        name=name,
        kms_master_key_id=key_arn,
        message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
    )


def allow_service_to_send(
    scope: Construct, construct_id: str, *, queue: SqsQueue, service: str, source_arn: str
) -> None:
    """Queue policy: only `service` may send, and only on behalf of `source_arn`."""
    document = DataAwsIamPolicyDocument(
        scope,
        f"{construct_id}-document",
        statement=[
            DataAwsIamPolicyDocumentStatement(
                sid="OnlyTheSourceSends",
                effect="Allow",
                principals=[
                    DataAwsIamPolicyDocumentStatementPrincipals(
                        type="Service", identifiers=[service]
                    )
                ],
                actions=["sqs:SendMessage"],
                resources=[queue.arn],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="ArnEquals", variable="aws:SourceArn", values=[source_arn]
                    )
                ],
            )
        ],
    )
    SqsQueuePolicy(scope, construct_id, queue_url=queue.url, policy=document.json)


class WorkQueue(Construct):
    """A queue fed by one SNS topic, with a dead-letter queue and a redrive policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key_arn: str,
        consumer_timeout_seconds: int,
        topic_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = dead_letter_queue(self, "dlq", name=f"{name}-dlq", key_arn=key_arn)
        self.queue = SqsQueue(
            self,
            "queue",
            name=name,
            kms_master_key_id=key_arn,
            message_retention_seconds=WORK_RETENTION_SECONDS,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * consumer_timeout_seconds,
            redrive_policy=(
                f'{{"deadLetterTargetArn":"{self.dead_letters.arn}",'
                f'"maxReceiveCount":{MAX_RECEIVE_COUNT}}}'
            ),
        )
        allow_service_to_send(
            self,
            "policy",
            queue=self.queue,
            service="sns.amazonaws.com",
            source_arn=topic_arn,
        )
        # Raw delivery: the queue holds the message itself, not SNS's envelope around it.
        SnsTopicSubscription(
            self,
            "subscription",
            topic_arn=topic_arn,
            protocol="sqs",
            endpoint=self.queue.arn,
            raw_message_delivery=True,
        )

    @property
    def arn(self) -> str:
        return self.queue.arn

    @property
    def url(self) -> str:
        return self.queue.url
