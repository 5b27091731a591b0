"""The load handler: once in effect, in timelabel order, watermark after the commit."""

import pytest

from handlers.bookkeeping import BatchState, open_ledger
from handlers.errors import TerminalError
from handlers.orchestration import checkpoints
from tests.fakes.driver import Killed
from tests.fakes.flow import CONNECTOR, UNIT, Flow
from tests.unit.orchestration.conftest import bodies, invoke, take, tick

TIMELABEL = "2024-05-01T10:00:00Z"


def extracted_batch(flow: Flow, time: str = "2024-05-01T10:07:13Z") -> list[dict]:
    """Schedule and extract one batch; its "extracted" messages, taken from the load queue."""
    tick(time)
    invoke(flow, "extract", take(flow, "extract"))
    return take(flow, "load")


def batch(timelabel: str = TIMELABEL):
    return open_ledger().get_batch(CONNECTOR, UNIT, timelabel)


def test_an_extracted_batch_is_loaded_and_the_watermark_follows(flow: Flow) -> None:
    flow.source.upsert(range(1, 8))
    messages = extracted_batch(flow)

    assert invoke(flow, "load", messages) == {"batchItemFailures": []}

    assert len(flow.warehouse.tables[UNIT]) == 7
    loaded = batch()
    assert loaded.state is BatchState.LOADED
    assert loaded.load_seconds is not None and "loaded_at" in loaded.times
    assert open_ledger().watermark(CONNECTOR, UNIT).value == "7"
    assert open_ledger().lease(CONNECTOR, UNIT) is None
    [published] = flow.observed_messages("loaded")
    assert (published["rows"], published["already"], published["watermark"]) == (7, False, "7")


def test_the_same_extracted_message_delivered_twice_loads_once(flow: Flow) -> None:
    flow.source.upsert(range(1, 8))
    [message] = extracted_batch(flow)

    invoke(flow, "load", [message])
    invoke(flow, "load", [message])

    assert flow.warehouse.commits == 1
    assert len(flow.warehouse.tables[UNIT]) == 7
    assert [m["already"] for m in flow.observed_messages("loaded")] == [False, True]


def test_a_load_that_died_after_the_warehouse_commit_is_finished_not_repeated(
    flow: Flow,
) -> None:
    flow.source.upsert(range(1, 8))
    [message] = extracted_batch(flow)

    def die_after_commit(boundary: str) -> None:
        if boundary == checkpoints.LOAD_COMMITTED:
            raise Killed(boundary)

    checkpoints.install(die_after_commit)
    try:
        with pytest.raises(Killed):
            invoke(flow, "load", [message])
    finally:
        checkpoints.install(None)
    assert flow.warehouse.commits == 1
    assert batch().state is BatchState.LOADING
    assert open_ledger().watermark(CONNECTOR, UNIT) is None

    assert invoke(flow, "load", [message]) == {"batchItemFailures": []}

    assert flow.warehouse.commits == 1  # the load log answered: already loaded
    assert len(flow.warehouse.tables[UNIT]) == 7
    assert batch().state is BatchState.LOADED
    assert open_ledger().watermark(CONNECTOR, UNIT).value == "7"
    assert open_ledger().lease(CONNECTOR, UNIT) is None
    assert [m["already"] for m in flow.observed_messages("loaded")] == [True]


def test_batches_that_arrive_out_of_order_load_in_timelabel_order(overlapping_flow: Flow) -> None:
    flow = overlapping_flow
    flow.source.upsert(range(1, 4))
    [first] = extracted_batch(flow, "2024-05-01T10:07:13Z")
    flow.source.upsert(range(4, 6))
    [second] = extracted_batch(flow, "2024-05-01T10:22:13Z")

    invoke(flow, "load", [second])  # the later batch comes first: it must wait

    assert flow.warehouse.commits == 0
    assert batch("2024-05-01T10:15:00Z").state is BatchState.EXTRACTED
    [waiting] = take(flow, "load")
    assert bodies([waiting])[0]["trace"]["attempt"] == 2

    invoke(flow, "load", [first])
    invoke(flow, "load", [waiting])

    assert list(flow.warehouse.load_log) == [
        batch().batch_id,
        batch("2024-05-01T10:15:00Z").batch_id,
    ]
    assert open_ledger().watermark(CONNECTOR, UNIT).timelabel == "2024-05-01T10:15:00Z"


def test_a_lease_left_by_a_finished_batch_does_not_block_the_next(overlapping_flow: Flow) -> None:
    flow = overlapping_flow
    flow.source.upsert(range(1, 4))
    [first] = extracted_batch(flow, "2024-05-01T10:07:13Z")
    flow.source.upsert(range(4, 6))
    [second] = extracted_batch(flow, "2024-05-01T10:22:13Z")

    def die_before_release(boundary: str) -> None:
        if boundary == checkpoints.LOAD_MARKED_LOADED:
            raise Killed(boundary)

    checkpoints.install(die_before_release)
    try:
        with pytest.raises(Killed):
            invoke(flow, "load", [first])
    finally:
        checkpoints.install(None)

    invoke(flow, "load", [second])

    assert batch("2024-05-01T10:15:00Z").state is BatchState.LOADED
    assert flow.warehouse.commits == 2


def test_a_pending_warehouse_load_is_checked_again_through_a_delayed_message(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    flow.warehouse.pending_first = True
    [message] = extracted_batch(flow)

    invoke(flow, "load", [message])

    assert batch().state is BatchState.LOADING
    [again] = take(flow, "load")
    assert bodies([again])[0]["load_state"] == {"statement": "copy-1"}
    invoke(flow, "load", [again])
    assert batch().state is BatchState.LOADED
    assert flow.warehouse.commits == 1


def test_a_terminal_warehouse_error_fails_the_batch_and_frees_the_unit(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    flow.warehouse.failure = TerminalError(
        'column "name" of "analytics"."orders" changed type from text to integer;'
        " alter the warehouse column or load into a new table"
    )
    [message] = extracted_batch(flow)

    assert invoke(flow, "load", [message]) == {"batchItemFailures": []}

    assert batch().state is BatchState.FAILED
    assert "changed type" in batch().error
    assert open_ledger().lease(CONNECTOR, UNIT) is None
    assert open_ledger().watermark(CONNECTOR, UNIT) is None
    [dead] = flow.messages(flow.dead_letter_queues["load"])
    assert dead["Body"] == message["Body"]
    assert flow.observed_messages("failed")[0]["stage"] == "load"


def test_an_extracted_message_ahead_of_its_book_keeping_is_retried(flow: Flow) -> None:
    flow.source.upsert(range(1, 4))
    [message] = extracted_batch(flow)
    ledger = open_ledger()
    # put the batch back to EXTRACTING behind the ledger's back, as if the write were late
    table = ledger._table
    table.update_item(
        Key={"pk": f"{CONNECTOR}#{UNIT}", "sk": f"batch#{TIMELABEL}"},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": "EXTRACTING"},
    )

    response = invoke(flow, "load", [message])

    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert flow.warehouse.commits == 0
