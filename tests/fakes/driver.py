"""An in-process stand-in for Lambda's pollers, with faults: kills and duplicate deliveries.

It invokes the real handlers as Lambda would: the scheduler with a scheduled event (and
again after a failed invocation, as asynchronous invocation retries), the extract and load
functions with SQS events built from the queues in moto, deleting what the partial batch
response acknowledges. Faults:

- kill: at the n-th step boundary reached (handlers.orchestration.checkpoints), the
  invocation dies (a BaseException that no handler catches); its messages become visible
  again, as they would when the visibility timeout expires.
- duplicates: every message is delivered twice: on first receipt, a copy is put back in its
  queue and arrives later, out of order with what follows.
"""

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from handlers.contracts import runtime
from handlers.orchestration import checkpoints, extract, load, scheduler
from tests.fakes.flow import Flow
from tests.fakes.lambda_context import FakeContext

COPY_ATTRIBUTE = "reef_test_copy"


class Killed(BaseException):
    """The invocation died here (a timeout, an out-of-memory kill, a lost host)."""


@dataclass
class Driver:
    """Runs a deployed flow's handlers until its queues are empty."""

    flow: Flow
    kill_at: int | None = None
    duplicates: bool = False
    boundaries: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    invocations: int = 0

    def __post_init__(self) -> None:
        checkpoints.install(self._at_boundary)

    def close(self) -> None:
        checkpoints.install(None)

    def _at_boundary(self, boundary: str) -> None:
        self.boundaries.append(boundary)
        if self.kill_at is not None and len(self.boundaries) == self.kill_at:
            self.kills.append(boundary)
            raise Killed(boundary)

    def tick(self, time: str, retries: int = 2) -> None:
        """Fire the schedule; a failed invocation is retried, as Lambda retries async calls."""
        event = scheduled_event(time)
        for _ in range(retries + 1):
            self.invocations += 1
            try:
                scheduler.handler(event, self._context())
                return
            except Killed:
                continue

    def run_until_idle(self, max_rounds: int = 500) -> None:
        """Deliver messages until no work queue holds a visible message."""
        for _ in range(max_rounds):
            moved = self._poll("extract", extract.handler, batch_size=1)
            moved += self._poll("load", load.handler, batch_size=5)
            if not moved:
                return
        raise AssertionError(f"the flow did not go idle within {max_rounds} rounds")

    def _poll(
        self, name: str, handler: Callable[[dict[str, Any], Any], Any], batch_size: int
    ) -> int:
        queue_url = self.flow.queue(_QUEUE_VARIABLES[name])
        answer = self.flow.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        if self.duplicates:
            self._duplicate(queue_url, messages)
        self._invoke(name, handler, queue_url, messages)
        return len(messages)

    def _invoke(
        self,
        name: str,
        handler: Callable[[dict[str, Any], Any], Any],
        queue_url: str,
        messages: list[dict[str, Any]],
    ) -> None:
        self.invocations += 1
        event = sqs_event(messages, self.flow.queue_arns[name])
        with _function_environment(
            runtime.DEAD_LETTER_QUEUE_URL, self.flow.dead_letter_queues[name]
        ):
            try:
                response = handler(event, self._context())
            except Killed:
                failed = {message["MessageId"] for message in messages}
            else:
                failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                # visible again at once, as after the visibility timeout, without waiting for it
                self.flow.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.flow.sqs.delete_message(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def _duplicate(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if COPY_ATTRIBUTE in message.get("MessageAttributes", {}):
                continue
            if int(message["Attributes"].get("ApproximateReceiveCount", "1")) > 1:
                continue
            self.flow.sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                MessageAttributes={COPY_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
            )

    def _context(self) -> FakeContext:
        self.flow.source.clock.used_ms = 0
        return FakeContext(timeout_ms=30_000, clock=self.flow.source.clock)


_QUEUE_VARIABLES = {"extract": runtime.EXTRACT_QUEUE_URL, "load": runtime.LOAD_QUEUE_URL}


@contextmanager
def _function_environment(name: str, value: str) -> Iterator[None]:
    """Set one environment variable for the length of an invocation, as a function's own."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def scheduled_event(time: str) -> dict[str, Any]:
    """An EventBridge scheduled event for a tick at `time` (ISO 8601, UTC)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/shop-schedule"],
        "detail": {},
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received from a queue."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def body(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(record["body"])  # type: ignore[no-any-return]
