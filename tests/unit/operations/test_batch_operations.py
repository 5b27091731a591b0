"""`trace`, `backfill` and `redrive` through the command line, against moto in-process.

The local environment's resources are created here by their deployed names (a deployment
with Terraform adds nothing these commands look at: a table, four queues and a topic).
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from handlers.bookkeeping import BatchState, Chunk, Ledger
from handlers.contracts import runtime
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import Extracted, Scheduled, TraceContext, encode
from main import app

runner = CliRunner()
CONNECTOR = "billing-replica"  # connectors/billing-replica.yaml: rate(1 hour), unit invoices
TABLE = "reef-local-bookkeeping"
NOW = datetime.now(UTC)


class Local:
    """The local environment's resources of one connector, in moto."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs")
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": runtime.BOOKKEEPING_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": runtime.BOOKKEEPING_SORT_KEY, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": runtime.BOOKKEEPING_PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": runtime.BOOKKEEPING_SORT_KEY, "AttributeType": "S"},
                {"AttributeName": "batch_id", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": runtime.BOOKKEEPING_BATCH_INDEX,
                    "KeySchema": [{"AttributeName": "batch_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.ledger = Ledger(boto3.resource("dynamodb").Table(TABLE), ttl_days=90)
        self.urls = {
            name: self.sqs.create_queue(QueueName=f"{CONNECTOR}-{name}")["QueueUrl"]
            for name in ("extract", "extract-dlq", "load", "load-dlq")
        }
        sns = boto3.client("sns")
        topic = sns.create_topic(Name=f"{CONNECTOR}-scheduled")["TopicArn"]
        arn = self.sqs.get_queue_attributes(
            QueueUrl=self.urls["extract"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )

    def bodies(self, queue: str) -> list[dict[str, Any]]:
        """The bodies of a queue's messages, consumed (tests only)."""
        found = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.urls[queue], MaxNumberOfMessages=10)
            if not answer.get("Messages"):
                return found
            for message in answer["Messages"]:
                found.append(_parsed(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.urls[queue], ReceiptHandle=message["ReceiptHandle"]
                )

    def visible(self, queue: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[queue], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def dead_letter(self, queue: str, body: str, error: str) -> None:
        self.sqs.send_message(
            QueueUrl=self.urls[f"{queue}-dlq"],
            MessageBody=body,
            MessageAttributes={"reef_error": {"DataType": "String", "StringValue": error}},
        )


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


@pytest.fixture
def local() -> Iterator[Local]:
    with mock_aws():
        yield Local()


def run(*arguments: str) -> Any:
    return runner.invoke(app, list(arguments))


def failed_batch(local: Local, timelabel: str, *, extracted: bool) -> TraceContext:
    """A batch of unit invoices that failed in extract, or in load after its extraction."""
    trace = TraceContext.of_batch(CONNECTOR, "invoices", timelabel)
    batch = local.ledger.create_batch(trace, Bounds(lower="2024-01-01", upper="2024-02-01"), NOW)
    batch = local.ledger.transition(batch, BatchState.EXTRACTING, NOW)
    chunk = Chunk(
        0,
        "c/0.csv.gz",
        rows=12,
        bytes=340,
        uncompressed_bytes=900,
        seconds=0.25,
        deleted_keys_key=None,
    )
    local.ledger.record_chunk(batch, chunk, None, NOW + timedelta(seconds=1))
    batch = local.ledger.get_batch(CONNECTOR, "invoices", timelabel)
    if extracted:
        batch = local.ledger.transition(batch, BatchState.EXTRACTED, NOW, manifest_key="m.json")
        batch = local.ledger.transition(batch, BatchState.LOADING, NOW)
    local.ledger.transition(batch, BatchState.FAILED, NOW, error="relation billing.x is gone")
    return trace


# trace


def test_trace_shows_a_failed_batchs_timeline_and_its_dead_lettered_message(local: Local) -> None:
    trace = failed_batch(local, "2024-05-01T10:00:00Z", extracted=False)
    local.dead_letter("extract", encode(Scheduled(trace=trace, bounds=Bounds())), "table gone")
    local.dead_letter(
        "extract",
        encode(
            Scheduled(
                trace=TraceContext.of_batch(CONNECTOR, "invoices", "2024-05-01T09:00:00Z"),
                bounds=Bounds(),
            )
        ),
        "other batch",
    )

    result = run("trace", trace.batch_id, "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["batch"]["state"] == "FAILED"
    assert document["batch"]["error"] == "relation billing.x is gone"
    assert [event["event"] for event in document["timeline"]] == [
        "scheduled",
        "extract started",
        "failed",
        "chunk 0",
    ]
    chunk = document["timeline"][-1]
    assert (chunk["rows"], chunk["bytes"], chunk["seconds"]) == (12, 340, 0.25)
    queues = {queue["queue"]: queue for queue in document["queues"]}
    dead = queues[f"{CONNECTOR}-extract-dlq"]
    assert (dead["batch_messages"], dead["errors"], dead["visible"]) == (1, ["table gone"], 2)
    assert queues[f"{CONNECTOR}-load-dlq"]["batch_messages"] == 0
    # peeking consumed nothing: both messages are visible again at once
    assert local.visible("extract-dlq") == 2


def test_trace_of_an_unknown_batch_exits_2_and_says_what_ids_look_like(local: Local) -> None:
    result = run("trace", "20240501T100000Z-0000000000000000")

    assert result.exit_code == 2
    assert "no batch '20240501T100000Z-0000000000000000'" in result.stderr
    assert "python main.py status" in result.stderr


# backfill


def test_a_backfill_schedules_one_batch_per_schedule_period_in_timelabel_order(
    local: Local,
) -> None:
    result = run(
        "backfill",
        CONNECTOR,
        "--unit",
        "invoices",
        "--from",
        "2024-05-01T10:30:00Z",
        "--to",
        "2024-05-01T13:00:00Z",
        "--json",
    )

    assert result.exit_code == 0, result.output
    batches = json.loads(result.stdout)["batches"]
    assert [(b["timelabel"], b["lower"], b["upper"]) for b in batches] == [
        ("2024-05-01T11:00:01Z", "2024-05-01T10:30:00Z", "2024-05-01T11:00:00Z"),
        ("2024-05-01T12:00:01Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"),
        ("2024-05-01T13:00:01Z", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z"),
    ]
    published = local.bodies("extract")
    assert sorted(m["trace"]["timelabel"] for m in published) == [b["timelabel"] for b in batches]
    assert all(m["backfill"] is True and m["kind"] == "scheduled" for m in published)
    first = local.ledger.get_batch(CONNECTOR, "invoices", "2024-05-01T11:00:01Z")
    assert first.backfill and first.state is BatchState.SCHEDULED
    assert first.bounds.lower_inclusive  # the range includes --from
    assert local.ledger.watermark(CONNECTOR, "invoices") is None


def test_a_repeated_backfill_takes_the_next_free_second(local: Local) -> None:
    arguments = (
        "backfill",
        CONNECTOR,
        "--unit",
        "invoices",
        "--from",
        "2024-05-01T10:00:00Z",
        "--to",
        "2024-05-01T11:00:00Z",
        "--json",
    )
    run(*arguments)

    again = run(*arguments)

    assert again.exit_code == 0, again.output
    assert [b["timelabel"] for b in json.loads(again.stdout)["batches"]] == ["2024-05-01T11:00:02Z"]


@pytest.mark.parametrize(
    ("unit", "start", "end", "says"),
    [
        ("invoices", "2024-05-01T11:00:00Z", "2024-05-01T10:00:00Z", "must be before"),
        ("invoices", "2024-05-01T10:00:00Z", "2999-01-01T00:00:00Z", "in the future"),
        ("invoices", "2024-05-01T10:00:30Z", "2024-05-01T11:00:00Z", "whole minute"),
        ("invoices", "yesterday", "2024-05-01T11:00:00Z", "not ISO 8601"),
        ("payments", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "no unit 'payments'"),
        ("credit_notes", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "full unit"),
    ],
)
def test_a_backfill_refuses_a_range_it_cannot_schedule_with_exit_2(
    local: Local, unit: str, start: str, end: str, says: str
) -> None:
    result = run("backfill", CONNECTOR, "--unit", unit, "--from", start, "--to", end)

    assert result.exit_code == 2
    assert says in result.stderr
    assert local.visible("extract") == 0


# redrive


def test_redrive_moves_dead_letters_back_and_sets_failed_batches_to_run_again(
    local: Local,
) -> None:
    in_extract = failed_batch(local, "2024-05-01T10:00:00Z", extracted=False)
    in_load = failed_batch(local, "2024-05-01T11:00:00Z", extracted=True)
    local.dead_letter("extract", encode(Scheduled(trace=in_extract, bounds=Bounds())), "gone")
    waited = in_load.model_copy(update={"attempt": 480})
    extracted = Extracted(
        trace=waited, manifest_bucket="b", manifest_key="m.json", rows=12, files=1
    )
    local.dead_letter("load", encode(extracted), "waited too long")
    local.dead_letter("load", "not json", "malformed")

    result = run("redrive", CONNECTOR, "--json")

    assert result.exit_code == 0, result.output
    queues = {q["queue"]: q for q in json.loads(result.stdout)["queues"]}
    assert queues[f"{CONNECTOR}-extract-dlq"] == {
        "queue": f"{CONNECTOR}-extract-dlq",
        "to": f"{CONNECTOR}-extract",
        "moved": 1,
        "unreadable": 0,
        "retried_batches": [in_extract.batch_id],
    }
    assert queues[f"{CONNECTOR}-load-dlq"]["moved"] == 2
    assert queues[f"{CONNECTOR}-load-dlq"]["unreadable"] == 1
    assert queues[f"{CONNECTOR}-load-dlq"]["retried_batches"] == [in_load.batch_id]
    ledger = local.ledger
    assert (
        ledger.get_batch(CONNECTOR, "invoices", in_extract.timelabel).state is BatchState.SCHEDULED
    )
    assert ledger.get_batch(CONNECTOR, "invoices", in_load.timelabel).state is BatchState.EXTRACTED
    assert (local.visible("extract-dlq"), local.visible("load-dlq")) == (0, 0)
    [moved_extract] = local.bodies("extract")
    assert moved_extract["trace"]["batch_id"] == in_extract.batch_id
    moved_load = [b for b in local.bodies("load") if isinstance(b, dict)]
    assert [b["trace"]["attempt"] for b in moved_load] == [1]


def test_redrive_of_one_queue_leaves_the_other_and_says_how_many_moved(local: Local) -> None:
    trace = failed_batch(local, "2024-05-01T10:00:00Z", extracted=False)
    local.dead_letter("extract", encode(Scheduled(trace=trace, bounds=Bounds())), "gone")
    local.dead_letter("load", "{}", "malformed")

    result = run("redrive", CONNECTOR, "--queue", "extract")

    assert result.exit_code == 0, result.output
    assert f"{CONNECTOR}-extract-dlq -> {CONNECTOR}-extract: 1 moved" in result.stdout
    assert local.visible("load-dlq") == 1


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (("redrive", CONNECTOR, "--queue", "stream"), "expected extract or load"),
        (("redrive", "nope"), "no connector named 'nope'"),
    ],
)
def test_redrive_refuses_bad_input_with_exit_2(
    local: Local, arguments: tuple[str, ...], says: str
) -> None:
    result = run(*arguments)

    assert result.exit_code == 2
    assert says in result.stderr
