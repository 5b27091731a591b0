"""A backfill batch runs through extract and load like a live one, and leaves the watermark."""

import boto3

from handlers.bookkeeping import BatchState, open_ledger
from handlers.contracts import runtime
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import Scheduled, TraceContext, encode
from tests.fakes.flow import CONNECTOR, UNIT, Flow
from tests.unit.orchestration.conftest import flow, invoke, take, tick  # noqa: F401


def test_a_loaded_backfill_batch_leaves_the_live_watermark_where_it_was(flow: Flow) -> None:  # noqa: F811
    flow.source.upsert(range(1, 8))
    tick("2024-05-01T10:07:13Z")
    invoke(flow, "extract", take(flow, "extract"))
    invoke(flow, "load", take(flow, "load"))
    live = open_ledger().watermark(CONNECTOR, UNIT)
    assert live is not None and live.value == "7"

    # labelled after the live batch, so only the flag keeps the watermark from moving to "3"
    trace = TraceContext.of_batch(CONNECTOR, UNIT, "2024-05-01T11:00:01Z")
    message = Scheduled(trace=trace, bounds=Bounds(lower="0", upper="3"), backfill=True)
    boto3.client("sqs").send_message(
        QueueUrl=flow.queue(runtime.EXTRACT_QUEUE_URL), MessageBody=encode(message)
    )
    invoke(flow, "extract", take(flow, "extract"))
    invoke(flow, "load", take(flow, "load"))

    backfilled = open_ledger().get_batch(CONNECTOR, UNIT, trace.timelabel)
    assert backfilled is not None and backfilled.backfill
    assert backfilled.state is BatchState.LOADED and backfilled.rows == 3
    after = open_ledger().watermark(CONNECTOR, UNIT)
    assert after is not None
    assert (after.value, after.timelabel) == ("7", live.timelabel)


def test_a_scheduled_message_from_before_the_backfill_flag_still_validates() -> None:
    from handlers.contracts.messages import parse_message

    old = (
        '{"version":1,"kind":"scheduled","bounds":{"lower":null,"upper":null,'
        '"lower_inclusive":false},"trace":{"connector":"shop","unit":"orders",'
        '"timelabel":"2024-05-01T10:00:00Z","batch_id":"x","chunk":0,"attempt":1}}'
    )
    message = parse_message(old, (Scheduled,))

    assert isinstance(message, Scheduled) and message.backfill is False
