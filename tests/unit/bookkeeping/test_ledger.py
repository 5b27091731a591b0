"""Book-keeping transitions: conditional writes that never move a batch backwards."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from handlers.bookkeeping import BatchState, Chunk, Ledger
from handlers.bookkeeping.ledger import ENTERED_FROM
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import TraceContext
from tests.fakes.flow import _create_table

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
FIRST = TraceContext.of_batch("shop", "orders", "2024-05-01T10:00:00Z")
SECOND = TraceContext.of_batch("shop", "orders", "2024-05-01T10:15:00Z")


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with mock_aws():
        table = boto3.resource("dynamodb").Table(_create_table())
        yield Ledger(table, ttl_days=90)


def batch_in(ledger: Ledger, state: BatchState, trace: TraceContext = FIRST):
    """A batch driven to `state` along the flow's own path."""
    batch = ledger.create_batch(trace, Bounds(lower="0", upper="10"), NOW)
    path = [BatchState.EXTRACTING, BatchState.EXTRACTED, BatchState.LOADING, BatchState.LOADED]
    if state is BatchState.FAILED:
        return ledger.transition(batch, BatchState.FAILED, NOW, error="boom")
    for step in path[: path.index(state) + 1] if state in path else []:
        batch = ledger.transition(batch, step, NOW)
    return batch


def test_a_repeated_tick_finds_the_batch_it_scheduled_with_its_first_bounds(ledger: Ledger) -> None:
    first = ledger.create_batch(FIRST, Bounds(lower="0", upper="10"), NOW)
    again = ledger.create_batch(FIRST, Bounds(lower="0", upper="99"), NOW + timedelta(minutes=1))
    assert again.bounds.upper == "10"
    assert again.times["scheduled_at"] == first.times["scheduled_at"]
    assert again.state is BatchState.SCHEDULED


TRANSITIONS = [(before, after) for before in BatchState for after in ENTERED_FROM]


@pytest.mark.parametrize(
    ("before", "after"), TRANSITIONS, ids=[f"{b.value}->{a.value}" for b, a in TRANSITIONS]
)
def test_a_batch_changes_state_only_along_the_flow(
    ledger: Ledger, before: BatchState, after: BatchState
) -> None:
    batch = batch_in(ledger, before)
    assert batch.state is before

    moved = ledger.transition(batch, after, NOW + timedelta(seconds=5))

    stored = ledger.get_batch("shop", "orders", FIRST.timelabel)
    if before in ENTERED_FROM[after]:
        assert moved is not None and moved.state is after
        assert stored.state is after
    else:
        assert moved is None
        assert stored.state is before


def test_a_late_message_cannot_move_a_loaded_batch_back_to_extracting(ledger: Ledger) -> None:
    loaded = batch_in(ledger, BatchState.LOADED)
    assert ledger.transition(loaded, BatchState.EXTRACTING, NOW) is None
    assert ledger.transition(loaded, BatchState.FAILED, NOW, error="late") is None
    assert ledger.get_batch("shop", "orders", FIRST.timelabel).error is None


def test_the_time_a_state_is_entered_is_kept_from_the_first_time(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTING)
    again = ledger.transition(batch, BatchState.EXTRACTING, NOW + timedelta(minutes=5))
    assert again.times["extract_started_at"] == batch.times["extract_started_at"]


def test_a_failed_batch_keeps_the_error_that_says_what_to_fix(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.LOADING)
    ledger.transition(batch, BatchState.FAILED, NOW, error="table analytics.orders is missing")
    stored = ledger.get_batch("shop", "orders", FIRST.timelabel)
    assert stored.state is BatchState.FAILED
    assert stored.error == "table analytics.orders is missing"
    assert "failed_at" in stored.times


def chunk(number: int, rows: int = 3) -> Chunk:
    return Chunk(number, f"batches/k/{number:06d}.csv.gz", rows, 40, 90, 0.2, None)


def test_a_chunk_is_recorded_with_the_counts_and_the_position_after_it(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTING)
    assert ledger.record_chunk(batch, chunk(0), {"after": [3, 3]}, NOW)

    stored = ledger.get_batch("shop", "orders", FIRST.timelabel)
    assert (stored.next_chunk, stored.rows, stored.bytes, stored.chunks) == (1, 3, 40, 1)
    assert stored.position == {"after": [3, 3]}
    assert [c.key for c in ledger.chunks(stored)] == ["batches/k/000000.csv.gz"]


def test_of_two_invocations_recording_the_same_chunk_only_the_first_counts(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTING)
    assert ledger.record_chunk(batch, chunk(0, rows=3), {"after": [3, 3]}, NOW)
    # the second invocation read the batch before the first one recorded its chunk
    assert not ledger.record_chunk(batch, chunk(0, rows=5), {"after": [5, 5]}, NOW)

    stored = ledger.get_batch("shop", "orders", FIRST.timelabel)
    assert (stored.rows, stored.chunks, stored.position) == (3, 1, {"after": [3, 3]})
    assert [c.rows for c in ledger.chunks(stored)] == [3]


def test_chunks_are_recorded_only_while_the_batch_is_extracting(ledger: Ledger) -> None:
    extracted = batch_in(ledger, BatchState.EXTRACTED)
    assert not ledger.record_chunk(extracted, chunk(0), None, NOW)
    assert not ledger.record_wait(extracted, {"job": "1"}, NOW)


def test_a_wait_records_the_sources_position_without_a_chunk(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTING)
    assert ledger.record_wait(batch, {"job": "750x"}, NOW)
    stored = ledger.get_batch("shop", "orders", FIRST.timelabel)
    assert (stored.position, stored.next_chunk, stored.progress_seq) == ({"job": "750x"}, 0, 1)


def test_the_watermark_moves_forward_only(ledger: Ledger) -> None:
    first = batch_in(ledger, BatchState.LOADING)
    second = ledger.create_batch(SECOND, Bounds(lower="10", upper="20"), NOW)
    assert ledger.watermark("shop", "orders") is None

    assert ledger.advance_watermark(second, NOW)
    assert not ledger.advance_watermark(first, NOW)
    assert ledger.advance_watermark(second, NOW)  # the same batch again is harmless

    watermark = ledger.watermark("shop", "orders")
    assert (watermark.value, watermark.timelabel) == ("20", SECOND.timelabel)


def test_one_batch_of_a_unit_holds_the_load_lease_at_a_time(ledger: Ledger) -> None:
    first = batch_in(ledger, BatchState.EXTRACTED)
    second = batch_in(ledger, BatchState.EXTRACTED, SECOND)

    assert ledger.acquire_lease(first, 60, NOW)
    assert ledger.acquire_lease(first, 60, NOW)  # a retry of the holder
    assert not ledger.acquire_lease(second, 60, NOW)
    ledger.release_lease("shop", "orders", second.batch_id)  # not the holder: no effect
    assert ledger.lease("shop", "orders") == (first.batch_id, first.timelabel)

    assert ledger.acquire_lease(second, 60, NOW + timedelta(seconds=61))  # expired
    ledger.release_lease("shop", "orders", second.batch_id)
    assert ledger.lease("shop", "orders") is None


def test_unfinished_earlier_batches_are_found_for_load_order(ledger: Ledger) -> None:
    batch_in(ledger, BatchState.EXTRACTING)
    later = batch_in(ledger, BatchState.EXTRACTED, SECOND)
    earlier = ledger.unfinished_before("shop", "orders", later.timelabel)
    assert [batch.timelabel for batch in earlier] == [FIRST.timelabel]
    assert ledger.unfinished_before("shop", "orders", FIRST.timelabel) == []


def test_batch_and_chunk_items_expire_but_the_watermark_does_not(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTING)
    ledger.record_chunk(batch, chunk(0), None, NOW)
    ledger.advance_watermark(batch, NOW)
    items = boto3.resource("dynamodb").Table("reef-test-bookkeeping").scan()["Items"]
    expiry = {item["sk"].split("#")[0]: item.get("expires_at") for item in items}
    in_90_days = int((NOW + timedelta(days=90)).timestamp())
    assert expiry == {"batch": in_90_days, "chunk": in_90_days, "watermark": None}


def test_the_status_view_of_a_batch_is_stable_json(ledger: Ledger) -> None:
    batch = batch_in(ledger, BatchState.EXTRACTED)
    view = batch.as_dict()
    assert list(view) == [
        "batch_id",
        "timelabel",
        "state",
        "rows",
        "bytes",
        "chunks",
        "extract_seconds",
        "load_seconds",
        "bounds",
        "times",
        "error",
    ]
    assert view["state"] == "EXTRACTED"
