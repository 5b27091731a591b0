"""`reef trace BATCH_ID`: one batch's timeline from book-keeping, and where its messages are.

The batch is found through the book-keeping table's `by_batch_id` index, which also holds
its chunk items. The timeline is built from the times book-keeping records when a batch
enters each state and when each chunk is written.

Where its messages are: a work queue cannot be searched without consuming it (a receive
hides the message from the function and counts as a receive towards maxReceiveCount, so it
could push a healthy message into the dead-letter queue), so for work queues only their
approximate counts are shown. Dead-letter queues have no redrive policy of their own, so
receiving from them is harmless: their messages are received with a short visibility
timeout, matched on trace.batch_id, and made visible again at once (visibility 0).

The JSON form is stable for scripts: keys are sorted and only ever added to.
"""

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from generator.environments import Environment
from generator.naming import bookkeeping_table_name
from handlers.bookkeeping import Batch, Chunk, Ledger
from handlers.errors import ReefError

TRACE_VERSION = 1
QUEUE_KINDS = ("extract", "load")

# Receive at most this many messages of one dead-letter queue while looking for a batch's;
# ten is the most one ReceiveMessage returns.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
PEEK_LIMIT = 1000
PEEK_VISIBILITY_SECONDS = 30


class OperationError(Exception):
    """Root of the errors of trace, backfill and redrive; the message says what to do."""


class Unavailable(OperationError):
    """AWS could not be reached or a resource is missing (exit 1)."""


class Refused(OperationError):
    """Bad input: an unknown batch, unit or range (exit 2)."""


@dataclass(frozen=True)
class Deployed:
    """An environment's deployed resources, reached with boto3's configured endpoint.

    Like `status`, it uses whatever AWS endpoint boto3 is configured for: AWS_ENDPOINT_URL
    points it at the local emulator (`eval "$(python main.py local env)"`).
    """

    environment: Environment
    ledger: Ledger
    sqs: Any
    sns: Any

    @classmethod
    def of(cls, environment: Environment) -> "Deployed":
        session = boto3.Session(region_name=environment.region)
        table = session.resource("dynamodb").Table(bookkeeping_table_name(environment))
        return cls(
            environment,
            Ledger(table, ttl_days=environment.bookkeeping_ttl_days),
            session.client("sqs"),
            session.client("sns"),
        )

    def queue_url(self, name: str) -> str:
        """The URL of a queue of the environment's account, by name."""
        try:
            answer = self.sqs.get_queue_url(
                QueueName=name, QueueOwnerAWSAccountId=self.environment.account
            )
        except (ClientError, BotoCoreError) as error:
            raise Unavailable(
                f"queue {name} not found in {self.environment.region} ({error});"
                " is the connector's stack deployed?"
            ) from None
        return str(answer["QueueUrl"])

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.environment.region}:{self.environment.account}:{name}"


def work_queue_name(connector: str, kind: str) -> str:
    """The name of a connector's work queue ("extract" or "load"), as its stack creates it."""
    return f"{connector}-{kind}"


def dead_letter_queue_name(connector: str, kind: str) -> str:
    return f"{work_queue_name(connector, kind)}-dlq"


def batch_id_of(body: str) -> str | None:
    """The trace.batch_id of a message body (raw or in an SNS envelope); None if it has none."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            document = json.loads(str(document.get("Message", "")))
        found = document["trace"]["batch_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


def trace_batch(deployed: Deployed, batch_id: str) -> dict[str, Any]:
    """The trace document of one batch; Refused if book-keeping has no batch with that id."""
    try:
        found = deployed.ledger.find_batch(batch_id)
    except (ClientError, BotoCoreError, ReefError) as error:
        raise Unavailable(
            f"cannot read book-keeping table {bookkeeping_table_name(deployed.environment)}:"
            f" {error}; is the core stack deployed and are AWS credentials set?"
        ) from None
    if found is None:
        raise Refused(
            f"no batch {batch_id!r} in {deployed.environment.name}'s book-keeping; batch ids"
            " look like 20240501T101500Z-0123456789abcdef (see `python main.py status`),"
            f" and batches expire after {deployed.environment.bookkeeping_ttl_days} days"
        )
    batch, chunks = found
    return {
        "version": TRACE_VERSION,
        "environment": deployed.environment.name,
        "batch": _batch_view(batch),
        "timeline": timeline(batch, chunks),
        "queues": _queues(deployed, batch),
    }


def timeline(batch: Batch, chunks: list[Chunk]) -> list[dict[str, Any]]:
    """The batch's events in time order: scheduled, extract start, chunks, ... loaded/failed."""
    times = batch.times
    events: list[dict[str, Any]] = []

    def add(event: str, at: str | None, **details: Any) -> None:
        if at is not None:
            events.append({"event": event, "at": at, **details})

    add("scheduled", times.get("scheduled_at"), bounds=batch.bounds.model_dump())
    add("extract started", times.get("extract_started_at"))
    for chunk in chunks:
        add(
            f"chunk {chunk.chunk}",
            chunk.written_at or times.get("extract_started_at"),
            rows=chunk.rows,
            bytes=chunk.bytes,
            seconds=chunk.seconds,
        )
    add(
        "extracted",
        times.get("extracted_at"),
        rows=batch.rows,
        bytes=batch.bytes,
        chunks=batch.chunks,
        seconds=batch.extract_seconds,
    )
    add("load started", times.get("load_started_at"))
    add("loaded", times.get("loaded_at"), seconds=batch.load_seconds)
    add("failed", times.get("failed_at"), error=batch.error)
    add("retried", times.get("retried_at"), previous_error=batch.previous_error)
    # ISO times in UTC with a Z sort as text; the sort is stable for equal times
    return sorted(events, key=lambda event: str(event["at"]))


def _batch_view(batch: Batch) -> dict[str, Any]:
    return {
        **batch.as_dict(),
        "connector": batch.connector,
        "unit": batch.unit,
        "backfill": batch.backfill,
    }


def _queues(deployed: Deployed, batch: Batch) -> list[dict[str, Any]]:
    queues = []
    for kind in QUEUE_KINDS:
        work = work_queue_name(batch.connector, kind)
        dead = dead_letter_queue_name(batch.connector, kind)
        try:
            work_url = deployed.queue_url(work)
        except Unavailable:
            continue  # a Kinesis connector has no extract queue
        queues.append({"queue": work, "dead_letter": False, **_counts(deployed, work_url)})
        dead_url = deployed.queue_url(dead)
        matches = peek_dead_letters(deployed.sqs, dead_url, batch.batch_id)
        queues.append(
            {
                "queue": dead,
                "dead_letter": True,
                **_counts(deployed, dead_url),
                "batch_messages": len(matches),
                "errors": sorted({error for error in matches if error}),
            }
        )
    return queues


def _counts(deployed: Deployed, url: str) -> dict[str, int]:
    names = {
        "ApproximateNumberOfMessages": "visible",
        "ApproximateNumberOfMessagesNotVisible": "in_flight",
        "ApproximateNumberOfMessagesDelayed": "delayed",
    }
    attributes = deployed.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
    return {short: int(attributes["Attributes"].get(name, 0)) for name, short in names.items()}


def peek_dead_letters(sqs: Any, url: str, batch_id: str) -> list[str | None]:
    """The dead-lettered messages of a batch, by their recorded error; nothing is consumed.

    Every received message is made visible again before this returns, even on an error.
    """
    received: list[dict[str, Any]] = []
    matches: list[str | None] = []
    try:
        while len(received) < PEEK_LIMIT:
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            received.extend(messages)
            for message in messages:
                if batch_id_of(message["Body"]) == batch_id:
                    error = message.get("MessageAttributes", {}).get("reef_error", {})
                    matches.append(error.get("StringValue"))
    finally:
        _make_visible(sqs, url, received)
    return matches


def _make_visible(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            for number, message in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def render_text(document: dict[str, Any]) -> list[list[Any]]:
    """The timeline as table rows: time, event, details."""
    rows = []
    for event in document["timeline"]:
        details = {k: v for k, v in event.items() if k not in ("event", "at") and v is not None}
        text = ", ".join(
            f"{key}={json.dumps(value) if isinstance(value, dict) else value}"
            for key, value in details.items()
        )
        rows.append([event["at"], event["event"], text])
    return rows
