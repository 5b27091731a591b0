"""The extract handler: chunk loop, time budget, continuations, waits, errors, duplicates."""

import gzip
import json
from pathlib import Path

import boto3

from handlers.bookkeeping import BatchState, open_ledger
from handlers.errors import TerminalError, TransientError
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, UNIT, Flow
from tests.fakes.lambda_context import FakeContext
from tests.unit.orchestration.conftest import bodies, invoke, take, tick

EVENTS = Path(__file__).resolve().parents[2] / "samples" / "events"
TIMELABEL = "2024-05-01T10:00:00Z"


def batch():
    return open_ledger().get_batch(CONNECTOR, UNIT, TIMELABEL)


def staged_keys(flow: Flow) -> list[str]:
    bucket = flow.environment["REEF_STAGING_BUCKET"]
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="batches/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_scheduled_batch_is_extracted_into_chunk_files_and_a_manifest(flow: Flow) -> None:
    flow.source.upsert(range(1, 11))
    tick()

    response = invoke(flow, "extract", take(flow, "extract"))

    assert response == {"batchItemFailures": []}
    extracted = batch()
    assert extracted.state is BatchState.EXTRACTED
    assert (extracted.rows, extracted.chunks) == (10, 3)
    prefix = f"batches/shop/orders/20240501T100000Z/{extracted.batch_id}"
    assert staged_keys(flow) == [
        f"{prefix}/000000.csv.gz",
        f"{prefix}/000001.csv.gz",
        f"{prefix}/000002.csv.gz",
        f"{prefix}/manifest.json",
    ]
    [message] = bodies(take(flow, "load"))
    assert message["kind"] == "extracted"
    assert message["manifest_key"] == f"{prefix}/manifest.json"
    manifest = json.loads(read(flow, message["manifest_key"]))
    assert [file["rows"] for file in manifest["files"]] == [4, 4, 2]
    assert manifest["primary_key"] == ["id"] and manifest["cursor"] == "updated"
    assert [column["name"] for column in manifest["columns"]] == ["id", "updated", "name"]
    first_file = gzip.decompress(
        boto3.client("s3")
        .get_object(Bucket=flow.environment["REEF_STAGING_BUCKET"], Key=f"{prefix}/000000.csv.gz")[
            "Body"
        ]
        .read()
    )
    assert first_file.decode().splitlines()[0] == "1,1,v1-1"


def read(flow: Flow, key: str) -> bytes:
    bucket = flow.environment["REEF_STAGING_BUCKET"]
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def test_a_short_budget_hands_the_rest_of_the_batch_to_a_continuation(flow: Flow) -> None:
    flow.source.upsert(range(1, 11))
    flow.source.chunk_ms = 11_000  # 19 s left after one; a second needs 16.5 s + 5 s reserve
    tick()

    context = FakeContext(timeout_ms=30_000, clock=flow.source.clock)
    assert invoke(flow, "extract", take(flow, "extract"), context) == {"batchItemFailures": []}

    assert batch().state is BatchState.EXTRACTING
    assert batch().next_chunk == 1
    [continuation] = bodies(take(flow, "extract"))
    assert continuation["kind"] == "continuation"
    assert continuation["reason"] == "budget"
    assert continuation["chunk_ms_estimate"] == 11_000


def test_an_extraction_larger_than_one_invocation_completes_through_continuations(
    flow: Flow, driver: Driver
) -> None:
    flow.source.upsert(range(1, 41))
    flow.source.chunk_rows = 3
    flow.source.chunk_ms = 9_000  # each 30 s invocation fits two chunks of fourteen
    tick()

    driver.run_until_idle()

    assert sorted(int(row[0]) for row in flow.warehouse.tables[UNIT]) == list(range(1, 41))
    assert batch().chunks == 14
    assert driver.boundaries.count("extract: continuation sent, message not yet acknowledged") == 6
    assert flow.source.chunk_reads == 14


def test_a_continuation_delivered_twice_extracts_each_chunk_once(flow: Flow) -> None:
    flow.source.upsert(range(1, 11))
    flow.source.chunk_ms = 11_000
    tick()
    context = FakeContext(clock=flow.source.clock)
    invoke(flow, "extract", take(flow, "extract"), context)
    [continuation] = take(flow, "extract")

    flow.source.clock.used_ms = 0
    invoke(flow, "extract", [continuation], context)
    flow.source.clock.used_ms = 0
    invoke(flow, "extract", [continuation], context)  # the same message again
    while more := take(flow, "extract"):
        flow.source.clock.used_ms = 0
        invoke(flow, "extract", more, context)

    assert batch().state is BatchState.EXTRACTED
    assert (batch().rows, batch().chunks) == (10, 3)
    assert [chunk.chunk for chunk in open_ledger().chunks(batch())] == [0, 1, 2]
    assert flow.source.chunk_reads == 3
    assert len(take(flow, "load")) >= 1


def test_a_scheduled_message_delivered_again_after_extraction_reads_nothing(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    tick()
    [scheduled] = take(flow, "extract")
    invoke(flow, "extract", [scheduled])
    reads = flow.source.chunk_reads

    invoke(flow, "extract", [scheduled])

    assert flow.source.chunk_reads == reads
    assert batch().chunks == 2
    # extracted is published again: it may have been lost with the invocation that died
    assert len(take(flow, "load")) == 2


def test_a_late_message_for_a_loaded_batch_is_acknowledged_and_ignored(
    flow: Flow, driver: Driver
) -> None:
    flow.source.upsert(range(1, 6))
    tick()
    [scheduled] = take(flow, "extract")
    invoke(flow, "extract", [scheduled])
    driver.run_until_idle()
    assert batch().state is BatchState.LOADED

    assert invoke(flow, "extract", [scheduled]) == {"batchItemFailures": []}
    assert batch().state is BatchState.LOADED
    assert take(flow, "load") == []


def test_a_source_that_waits_gets_a_delayed_continuation_and_nothing_sleeps(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    flow.source.waits_before_first_chunk = 1
    tick()

    assert invoke(flow, "extract", take(flow, "extract")) == {"batchItemFailures": []}

    assert flow.source.chunk_reads == 0
    assert batch().position == {"job": "job-1", "waited": 1}
    assert batch().next_chunk == 0
    assert take(flow, "extract") == []  # delayed: not visible yet
    assert staged_keys(flow) == []  # the aborted chunk left no object behind


def test_a_terminal_source_error_fails_the_batch_and_dead_letters_the_message(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    flow.source.failure = TerminalError('table "public"."orders" does not exist; check the spec')
    tick()
    [scheduled] = take(flow, "extract")

    assert invoke(flow, "extract", [scheduled]) == {"batchItemFailures": []}

    assert batch().state is BatchState.FAILED
    assert "does not exist" in batch().error
    [dead] = flow.messages(flow.dead_letter_queues["extract"])
    assert dead["Body"] == scheduled["Body"]
    assert "does not exist" in dead["MessageAttributes"]["reef_error"]["StringValue"]
    [failed] = flow.observed_messages("failed")
    assert failed["stage"] == "extract"
    assert failed["trace"]["batch_id"] == batch().batch_id


def test_a_transient_source_error_retries_the_message_later(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    flow.source.failure = TransientError("connection reset by peer")
    tick()
    [scheduled] = take(flow, "extract")

    response = invoke(flow, "extract", [scheduled])

    assert response == {"batchItemFailures": [{"itemIdentifier": scheduled["MessageId"]}]}
    assert batch().state is BatchState.EXTRACTING
    assert flow.messages(flow.dead_letter_queues["extract"]) == []
    assert take(flow, "extract") == []  # backed off: invisible for a while


def test_a_malformed_message_goes_to_the_dead_letter_queue_untouched(flow: Flow) -> None:
    event = json.loads((EVENTS / "sqs-malformed.json").read_text())
    message = {
        "MessageId": event["Records"][0]["messageId"],
        "ReceiptHandle": event["Records"][0]["receiptHandle"],
        "Body": event["Records"][0]["body"],
        "Attributes": event["Records"][0]["attributes"],
    }

    assert invoke(flow, "extract", [message]) == {"batchItemFailures": []}

    [dead] = flow.messages(flow.dead_letter_queues["extract"])
    assert dead["Body"] == message["Body"]
    assert "trace.timelabel" in dead["MessageAttributes"]["reef_error"]["StringValue"]
    assert open_ledger().latest_batches(CONNECTOR, UNIT, 5) == []
