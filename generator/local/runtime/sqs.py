"""Lambda's SQS poller: receive a batch, invoke, delete what succeeded, leave failures to return.

Behaviour follows the Lambda documentation for SQS event sources and partial batch responses:
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
Redrive to the dead-letter queue after maxReceiveCount receives is SQS's own doing, and moto
does it on receive like SQS, so the poller never moves messages itself.
"""

import logging
from dataclasses import dataclass
from typing import Any

from generator.local.runtime.invoker import Invocation, Invoker
from generator.local.runtime.wiring import DeployedFunction, QueueMapping

logger = logging.getLogger(__name__)

SQS_RECEIVE_LIMIT = 10  # ReceiveMessage returns at most 10 messages per call
# The message attribute that marks a copy sent back by `duplicate_deliveries`.
COPY_ATTRIBUTE = "reef_local_copy"


@dataclass
class BatchOutcome:
    """What happened to one batch: how many messages were deleted and how many left to retry."""

    invocation: Invocation
    succeeded: int
    failed: int


class QueuePoller:
    """Polls one SQS event source mapping.

    Two options are for fault tests only. `duplicate_deliveries`: on the first receipt of
    each message, a copy is sent back to its queue, so that every message is delivered twice
    (SQS standard queues promise at-least-once delivery:
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html).
    `visibility_timeout_seconds`: received messages stay invisible this long instead of the
    queue's visibility timeout, so that the messages of a runtime that died mid-invocation
    come back in seconds, as they come back after the visibility timeout on AWS.
    """

    def __init__(
        self,
        mapping: QueueMapping,
        function: DeployedFunction,
        *,
        sqs: Any,
        invoker: Invoker,
        retry_delay_seconds: int,
        region: str,
        duplicate_deliveries: bool = False,
        visibility_timeout_seconds: int | None = None,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.sqs = sqs
        self.invoker = invoker
        self.retry_delay_seconds = retry_delay_seconds
        self.region = region
        self.duplicate_deliveries = duplicate_deliveries
        self.visibility_timeout_seconds = visibility_timeout_seconds

    def poll(self) -> BatchOutcome | None:
        """Deliver one batch if the queue has visible messages; None when it had none."""
        messages = self._receive()
        if not messages:
            return None
        if self.duplicate_deliveries:
            self._send_copies(messages)

        invocation = self.invoker.invoke(self.function, self._event(messages))

        failed_ids = self._failed_message_ids(invocation, messages)
        succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        self._delete(succeeded)
        self._return_for_retry(failed)
        return BatchOutcome(invocation, len(succeeded), len(failed))

    def _receive(self) -> list[dict[str, Any]]:
        # Lambda gathers up to BatchSize messages within the batching window; locally the
        # poller stops at the first empty receive instead of waiting out the window, since
        # the runtime is the only producer that could fill it meanwhile.
        messages: list[dict[str, Any]] = []
        visibility = (
            {}
            if self.visibility_timeout_seconds is None
            else {"VisibilityTimeout": self.visibility_timeout_seconds}
        )
        while len(messages) < self.mapping.batch_size:
            page = self.sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, self.mapping.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
                **visibility,
            ).get("Messages", [])
            if not page:
                break
            messages += page
        return messages

    def _send_copies(self, messages: list[dict[str, Any]]) -> None:
        # A copy is itself never copied, and a message is copied on its first receipt only,
        # so every message arrives exactly twice (plus any retries), the copy after whatever
        # was queued meanwhile.
        for message in messages:
            attributes = dict(message.get("MessageAttributes", {}))
            if COPY_ATTRIBUTE in attributes:
                continue
            if int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1:
                continue
            attributes[COPY_ATTRIBUTE] = {"DataType": "String", "StringValue": "1"}
            self.sqs.send_message(
                QueueUrl=self.mapping.queue_url,
                MessageBody=message["Body"],
                MessageAttributes={
                    name: {k: v for k, v in value.items() if k in _SENDABLE}
                    for name, value in attributes.items()
                },
            )

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._record(message) for message in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        # the shape of an SQS record in a Lambda event:
        # https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#example-standard-queue-message-event
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.queue_arn,
            "awsRegion": self.region,
        }

    def _failed_message_ids(
        self, invocation: Invocation, messages: list[dict[str, Any]]
    ) -> set[str]:
        every_id = {message["MessageId"] for message in messages}
        if not invocation.ok:
            return every_id
        if not self.mapping.report_batch_item_failures:
            return set()
        return _reported_failures(invocation.response, every_id, self.function.name)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_LIMIT):
            chunk = messages[start : start + SQS_RECEIVE_LIMIT]
            self.sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )

    def _return_for_retry(self, messages: list[dict[str, Any]]) -> None:
        # Lambda leaves a failed message invisible for the rest of the queue's visibility
        # timeout (six times the function's timeout here); locally it comes back after
        # `retry_delay_seconds` so that a run reaches its retries and the DLQ in seconds.
        # Shortcoming: a backoff the handler set itself with ChangeMessageVisibility is
        # replaced by this delay; keeping it would need the runtime to record the handler's
        # visibility calls (for example through a botocore event hook) and skip those messages.
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.mapping.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=self.retry_delay_seconds,
            )


# the keys of a received message attribute that SendMessage accepts back
_SENDABLE = ("DataType", "StringValue", "BinaryValue")


def _reported_failures(response: Any, every_id: set[str], function_name: str) -> set[str]:
    # An empty or missing batchItemFailures means success; a malformed response, or an
    # identifier that is not in the batch, fails the whole batch, as Lambda does.
    if response is None or response == {} or not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        logger.warning("%s returned a malformed batchItemFailures; the batch fails", function_name)
        return every_id
    reported = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in every_id:
            logger.warning("%s reported an unknown itemIdentifier; the batch fails", function_name)
            return every_id
        reported.add(identifier)
    return reported


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # ReceiveMessage names attribute values StringValue/BinaryValue; Lambda events use camelCase
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value.get("DataType"),
    }
