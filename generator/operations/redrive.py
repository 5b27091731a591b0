"""`reef redrive`: move a connector's dead-lettered messages back to their work queue.

Portable receive / send / delete rather than SQS StartMessageMoveTask: the move task is not
available in every emulator, and moving message by message lets each batch be set back
first. A batch that failed for good (FAILED) ignores its messages, so before its message
goes back, the batch is sent back with a conditional write: FAILED -> SCHEDULED for the
extract queue (it is extracted again from the start), FAILED -> EXTRACTED for the load
queue (its manifest is loaded again). A batch in any other state (its message was
dead-lettered after transient errors) is left as it is and resumes where it stopped.

A message is deleted from the dead-letter queue only after its copy is sent, so a crash in
between leaves a duplicate, which the functions ignore (book-keeping), never a loss.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from generator.operations.trace import (
    Deployed,
    Unavailable,
    dead_letter_queue_name,
    work_queue_name,
)
from handlers.bookkeeping import BatchState
from handlers.contracts.messages import (
    Continuation,
    Extracted,
    MalformedMessage,
    Scheduled,
    encode,
    parse_message,
)
from handlers.errors import ReefError

RETRY_TO = {"extract": BatchState.SCHEDULED, "load": BatchState.EXTRACTED}
ACCEPTED = {"extract": (Scheduled, Continuation), "load": (Extracted,)}
# How long a received message stays hidden while it is moved; far more than one move takes.
MOVE_VISIBILITY_SECONDS = 120


@dataclass
class Redriven:
    """What one dead-letter queue's redrive did."""

    queue: str
    to: str
    moved: int = 0
    unreadable: int = 0  # moved as they were, though they name no batch Reef can read
    retried: list[str] = field(default_factory=list)  # FAILED batches set back

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "to": self.to,
            "moved": self.moved,
            "unreadable": self.unreadable,
            "retried_batches": sorted(set(self.retried)),
        }


def redrive(
    deployed: Deployed, connector: str, kinds: tuple[str, ...], now: datetime
) -> list[Redriven]:
    """Move every message of the connector's dead-letter queues of `kinds` back."""
    results = []
    for kind in kinds:
        dead_url = deployed.queue_url(dead_letter_queue_name(connector, kind))
        work_url = deployed.queue_url(work_queue_name(connector, kind))
        result = Redriven(dead_letter_queue_name(connector, kind), work_queue_name(connector, kind))
        try:
            _move_all(deployed, kind, dead_url=dead_url, work_url=work_url, now=now, result=result)
        except (ClientError, BotoCoreError, ReefError) as error:
            raise Unavailable(
                f"redrive of {result.queue} stopped after {result.moved} messages: {error};"
                " running it again moves the rest"
            ) from None
        results.append(result)
    return results


def _move_all(
    deployed: Deployed,
    kind: str,
    *,
    dead_url: str,
    work_url: str,
    now: datetime,
    result: Redriven,
) -> None:
    while True:
        answer = deployed.sqs.receive_message(
            QueueUrl=dead_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            body = _prepared(deployed, kind, message["Body"], now, result)
            deployed.sqs.send_message(QueueUrl=work_url, MessageBody=body)
            deployed.sqs.delete_message(QueueUrl=dead_url, ReceiptHandle=message["ReceiptHandle"])
            result.moved += 1


def _prepared(deployed: Deployed, kind: str, body: str, now: datetime, result: Redriven) -> str:
    """The body to send back, after setting a FAILED batch back; attempts start again at 1."""
    try:
        message = parse_message(body, ACCEPTED[kind])
    except MalformedMessage:
        result.unreadable += 1
        return body
    trace = message.trace
    batch = deployed.ledger.get_batch(trace.connector, trace.unit, trace.timelabel)
    failed = batch is not None and batch.state is BatchState.FAILED
    if failed and deployed.ledger.retry(batch, RETRY_TO[kind], now) is not None:  # type: ignore[arg-type]
        result.retried.append(trace.batch_id)
    # a load message that waited its maximum number of turns would fail again at once
    fresh = message.model_copy(update={"trace": trace.model_copy(update={"attempt": 1})})
    return encode(fresh)
