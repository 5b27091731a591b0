"""Consuming an SQS queue the Reef way: validate, trace, classify errors, answer partially.

Each record is handled on its own. The answer is a partial batch response, so one failing
record does not send its neighbours back to the queue:
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html

- A malformed message is logged and moved to the dead-letter queue at once; it is never
  half-processed, and retrying it could not help.
- A terminal error marks the batch FAILED (through `on_terminal`), publishes "failed" and
  moves the message to the dead-letter queue at once, instead of retrying it
  maxReceiveCount times first.
- Anything else is retried: the record fails in the response, and its visibility timeout is
  set to grow with its receive count, so retries back off.
"""

import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch import process_partial_response as respond
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from handlers import config
from handlers.contracts import runtime
from handlers.contracts.messages import MalformedMessage, Message, parse_message
from handlers.errors import TerminalError, TransientError
from handlers.observability import MALFORMED_MESSAGES, count, logger, traced
from handlers.orchestration.services import Services

# Retry delays: 15 s, 30 s, 60 s ... capped at 15 minutes (SQS allows up to 12 hours).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html
BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 900

Handle = Callable[[Any, int], None]
OnTerminal = Callable[[Any, TerminalError], None]


def consume(
    event: dict[str, Any],
    context: Any,
    services: Services,
    *,
    queue_variable: str,
    accepted: tuple[type[Message], ...],
    handle: Handle,
    on_terminal: OnTerminal,
) -> dict[str, Any]:
    """Handle each SQS record of the event; the partial batch response for Lambda."""
    consumer = _Consumer(services, queue_variable, accepted, handle, on_terminal)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return respond(event, consumer.record, processor, context)  # type: ignore[return-value]


class _Consumer:
    def __init__(
        self,
        services: Services,
        queue_variable: str,
        accepted: tuple[type[Message], ...],
        handle: Handle,
        on_terminal: OnTerminal,
    ) -> None:
        self.services = services
        self.queue_variable = queue_variable
        self.accepted = accepted
        self.handle = handle
        self.on_terminal = on_terminal

    def record(self, record: SQSRecord) -> None:
        receives = int(record.attributes.approximate_receive_count or 1)
        try:
            message = parse_message(record.body, self.accepted)
        except MalformedMessage as malformed:
            self._malformed(record, malformed)
            return
        trace = message.trace.model_copy(update={"attempt": receives})  # type: ignore[attr-defined]
        with traced(trace):
            try:
                self.handle(message, receives)
            except TerminalError as terminal:
                self._terminal(record, message, terminal)
            except Exception as error:
                self._transient(record, receives, error)
                raise

    def _malformed(self, record: SQSRecord, malformed: MalformedMessage) -> None:
        logger.error(
            "malformed message moved to the dead-letter queue",
            extra={"message_id": record.message_id, "error": str(malformed)},
        )
        count(MALFORMED_MESSAGES, 1)
        self._dead_letter(record, str(malformed))

    def _terminal(self, record: SQSRecord, message: Any, terminal: TerminalError) -> None:
        logger.error("batch failed; fix the cause and redrive", extra={"error": str(terminal)})
        self._dead_letter(record, str(terminal))
        self.on_terminal(message, terminal)

    def _transient(self, record: SQSRecord, receives: int, error: Exception) -> None:
        # Known shortcoming: an error that is not a ReefError (a bug, say) is retried like a
        # transient one; after maxReceiveCount SQS dead-letters the message but the batch
        # keeps its state instead of FAILED. Marking it would need the queue's
        # maxReceiveCount here (from its RedrivePolicy) to recognise the last receive.
        known = isinstance(error, TransientError)
        logger.warning(
            "will retry" if known else "unexpected error; will retry",
            extra={"error": f"{type(error).__name__}: {error}"},
            exc_info=not known,
        )
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (receives - 1), BACKOFF_MAX_SECONDS)
        try:
            self.services.sqs.change_message_visibility(
                QueueUrl=config.environment_variable(self.queue_variable),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=delay,
            )
        except (ClientError, BotoCoreError, TerminalError) as failed:
            # the queue's own visibility timeout then applies: a slower retry, not a lost one
            logger.warning("could not set the retry delay", extra={"error": str(failed)})

    def _dead_letter(self, record: SQSRecord, reason: str) -> None:
        queue = self._dead_letter_queue()
        try:
            self.services.sqs.send_message(
                QueueUrl=queue,
                MessageBody=record.body,
                MessageAttributes={
                    "reef_error": {"DataType": "String", "StringValue": reason[:1000]},
                    "reef_source_queue": {
                        "DataType": "String",
                        "StringValue": record.event_source_arn or "",
                    },
                },
            )
        except (ClientError, BotoCoreError) as error:
            # raising fails the record, so SQS's redrive dead-letters it after maxReceiveCount
            raise config.aws_error(error, f"moving a message to {queue}") from error

    def _dead_letter_queue(self) -> str:
        configured = os.environ.get(runtime.DEAD_LETTER_QUEUE_URL)
        if configured:
            return configured
        return _redrive_target(self.services.sqs, config.environment_variable(self.queue_variable))


def _redrive_target(sqs: Any, queue_url: str) -> str:
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
    except (ClientError, BotoCoreError, KeyError, ValueError) as error:
        raise TransientError(
            f"queue {queue_url} has no readable RedrivePolicy ({error}); set"
            f" {runtime.DEAD_LETTER_QUEUE_URL} or give the queue a dead-letter queue"
        ) from error
    # arn:aws:sqs:<region>:<account>:<name>; the DLQ lives beside its queue
    name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
    parts = urlsplit(queue_url)
    base = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{base}/{name}"
