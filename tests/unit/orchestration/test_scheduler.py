"""The scheduler: one batch per unit and tick, bounds from the watermark, never twice."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.bookkeeping import BatchState, open_ledger
from handlers.errors import TerminalError
from handlers.orchestration import scheduler
from tests.fakes.flow import CONNECTOR, UNIT, Flow
from tests.fakes.lambda_context import FakeContext
from tests.unit.orchestration.conftest import bodies, take, tick

EVENTS = Path(__file__).resolve().parents[2] / "samples" / "events"


def test_a_tick_schedules_one_batch_per_unit_up_to_the_sources_maximum(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    event = json.loads((EVENTS / "scheduled.json").read_text())

    outcome = scheduler.handler(event, FakeContext())

    assert outcome == {"timelabel": "2024-05-01T10:00:00Z", "units": {UNIT: "scheduled"}}
    [message] = bodies(take(flow, "extract"))
    assert message["kind"] == "scheduled"
    assert message["trace"]["timelabel"] == "2024-05-01T10:00:00Z"
    assert message["bounds"] == {"lower": None, "upper": "5", "lower_inclusive": False}
    batch = open_ledger().get_batch(CONNECTOR, UNIT, "2024-05-01T10:00:00Z")
    assert batch.state is BatchState.SCHEDULED
    assert batch.batch_id == message["trace"]["batch_id"]


def test_an_incremental_batch_starts_at_the_units_watermark(flow: Flow) -> None:
    flow.source.upsert(range(1, 6))
    ledger = open_ledger()
    first = ledger.get_batch(CONNECTOR, UNIT, tick()["timelabel"])
    ledger.advance_watermark(first, first_time())
    ledger.transition(first, BatchState.FAILED, first_time(), error="set aside for this test")
    take(flow, "extract")
    flow.source.upsert(range(6, 9))

    tick("2024-05-01T10:16:00Z")

    [message] = bodies(take(flow, "extract"))
    assert message["bounds"]["lower"] == "5"
    assert message["bounds"]["upper"] == "8"


def test_a_repeated_tick_publishes_its_scheduled_batch_again_but_schedules_nothing_new(
    flow: Flow,
) -> None:
    flow.source.upsert(range(1, 4))
    tick("2024-05-01T10:07:13Z")
    flow.source.upsert(range(4, 9))  # the source moved on; the batch keeps its bounds

    outcome = tick("2024-05-01T10:09:00Z")

    assert outcome["units"] == {UNIT: "republished"}
    messages = bodies(take(flow, "extract"))
    assert len(messages) == 2
    assert messages[0] == messages[1]
    assert len(open_ledger().latest_batches(CONNECTOR, UNIT, 10)) == 1


def test_a_repeated_tick_after_extraction_began_publishes_nothing(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    timelabel = tick()["timelabel"]
    take(flow, "extract")
    ledger = open_ledger()
    ledger.transition(
        ledger.get_batch(CONNECTOR, UNIT, timelabel), BatchState.EXTRACTING, first_time()
    )

    assert tick()["units"] == {UNIT: "exists"}
    assert take(flow, "extract") == []


def test_no_new_batch_while_the_previous_one_is_in_flight(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    tick("2024-05-01T10:07:13Z")
    take(flow, "extract")

    assert tick("2024-05-01T10:22:00Z")["units"] == {UNIT: "waiting"}
    assert len(open_ledger().latest_batches(CONNECTOR, UNIT, 10)) == 1


def test_overlap_allowed_by_the_spec_schedules_the_next_batch_anyway(
    overlapping_flow: Flow,
) -> None:
    overlapping_flow.source.upsert(range(1, 4))
    tick("2024-05-01T10:07:13Z")

    assert tick("2024-05-01T10:22:00Z")["units"] == {UNIT: "scheduled"}
    assert len(open_ledger().latest_batches(CONNECTOR, UNIT, 10)) == 2


def test_an_event_without_a_time_is_refused_with_what_was_expected(flow: Flow) -> None:
    with pytest.raises(TerminalError, match="scheduled event"):
        scheduler.handler({"detail": {}}, FakeContext())


def first_time() -> datetime:
    return datetime(2024, 5, 1, 10, 7, tzinfo=UTC)


def test_a_unit_whose_source_fails_for_good_is_reported_and_the_tick_goes_on(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    broken = TerminalError('table "public"."orders" does not exist; check the spec')

    class Broken:
        def __init__(self, config, secret) -> None:
            pass

        def bounds(self, unit, watermark):
            raise broken

        def close(self) -> None:
            pass

    from handlers.sources import register_source

    register_source("postgres", Broken)

    outcome = tick()

    assert outcome["units"][UNIT].startswith("error: ")
    assert "does not exist" in outcome["units"][UNIT]
    assert take(flow, "extract") == []
