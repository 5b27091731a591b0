"""Book-keeping for the operations: retry a FAILED batch, find a batch by id, backfill flag."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from handlers.bookkeeping import BatchState, Chunk, Ledger
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import TraceContext
from tests.fakes.flow import _create_table

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
TRACE = TraceContext.of_batch("shop", "orders", "2024-05-01T10:00:00Z")


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with mock_aws():
        table = boto3.resource("dynamodb").Table(_create_table())
        yield Ledger(table, ttl_days=90)


def failed_while_extracting(ledger: Ledger):
    batch = ledger.create_batch(TRACE, Bounds(lower="0", upper="10"), NOW)
    batch = ledger.transition(batch, BatchState.EXTRACTING, NOW)
    chunk = Chunk(
        0, "k/0.csv.gz", rows=5, bytes=50, uncompressed_bytes=80, seconds=1.5, deleted_keys_key=None
    )
    assert ledger.record_chunk(batch, chunk, {"after": ["5"]}, NOW)
    batch = ledger.get_batch("shop", "orders", TRACE.timelabel)
    return ledger.transition(batch, BatchState.FAILED, NOW, error="column dropped")


def test_a_failed_batch_sent_back_to_scheduled_is_extracted_again_from_the_start(
    ledger: Ledger,
) -> None:
    failed = failed_while_extracting(ledger)

    retried = ledger.retry(failed, BatchState.SCHEDULED, LATER)

    assert retried is not None and retried.state is BatchState.SCHEDULED
    assert (retried.next_chunk, retried.rows, retried.chunks, retried.position) == (0, 0, 0, None)
    assert retried.progress_seq == failed.progress_seq + 1
    assert retried.error is None and retried.previous_error == "column dropped"
    assert "failed_at" not in retried.times and "extract_started_at" not in retried.times
    assert retried.times["retried_at"] == "2024-05-01T10:05:30.000Z"
    assert ledger.chunks(retried) == []
    # and the extract handler can take it again
    assert ledger.transition(retried, BatchState.EXTRACTING, LATER) is not None


def test_only_a_failed_batch_is_sent_back(ledger: Ledger) -> None:
    batch = ledger.create_batch(TRACE, Bounds(), NOW)
    extracting = ledger.transition(batch, BatchState.EXTRACTING, NOW)

    assert ledger.retry(extracting, BatchState.SCHEDULED, LATER) is None
    assert ledger.get_batch("shop", "orders", TRACE.timelabel).state is BatchState.EXTRACTING
    with pytest.raises(ValueError, match="SCHEDULED or EXTRACTED"):
        ledger.retry(extracting, BatchState.LOADING, LATER)


def test_a_failed_load_goes_back_to_extracted_only_with_its_manifest(ledger: Ledger) -> None:
    failed_in_extract = failed_while_extracting(ledger)
    assert ledger.retry(failed_in_extract, BatchState.EXTRACTED, LATER) is None

    other = TraceContext.of_batch("shop", "orders", "2024-05-01T11:00:00Z")
    batch = ledger.create_batch(other, Bounds(), NOW)
    batch = ledger.transition(batch, BatchState.EXTRACTING, NOW)
    batch = ledger.transition(batch, BatchState.EXTRACTED, NOW, manifest_key="m.json")
    batch = ledger.transition(batch, BatchState.LOADING, NOW)
    failed = ledger.transition(batch, BatchState.FAILED, NOW, error="COPY failed")

    retried = ledger.retry(failed, BatchState.EXTRACTED, LATER)

    assert retried is not None and retried.state is BatchState.EXTRACTED
    assert retried.manifest_key == "m.json" and "load_started_at" not in retried.times
    assert ledger.transition(retried, BatchState.LOADING, LATER) is not None


def test_a_batch_is_found_by_its_id_with_its_chunks(ledger: Ledger) -> None:
    failed_while_extracting(ledger)

    found = ledger.find_batch(TRACE.batch_id)

    assert found is not None
    batch, chunks = found
    assert (batch.unit, batch.state, batch.error) == ("orders", BatchState.FAILED, "column dropped")
    assert [(c.chunk, c.rows, c.written_at) for c in chunks] == [(0, 5, "2024-05-01T10:00:30.000Z")]
    assert ledger.find_batch("20240501T100000Z-0000000000000000") is None


def test_a_backfill_batch_keeps_its_flag(ledger: Ledger) -> None:
    batch = ledger.create_batch(TRACE, Bounds(lower="a", upper="b"), NOW, backfill=True)
    plain = ledger.create_batch(
        TraceContext.of_batch("shop", "orders", "2024-05-01T11:00:00Z"), Bounds(), NOW
    )

    assert batch.backfill is True and plain.backfill is False
    moved = ledger.transition(batch, BatchState.EXTRACTING, NOW)
    assert moved is not None and moved.backfill is True
