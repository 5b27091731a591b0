"""Message contracts: versioned, strict, validated on receipt, with the trace context."""

import json
from pathlib import Path

import pytest

from handlers.contracts.batch import Bounds
from handlers.contracts.messages import (
    Continuation,
    Extracted,
    Failed,
    Loaded,
    MalformedMessage,
    Scheduled,
    TraceContext,
    batch_id,
    encode,
    parse_message,
)

EVENTS = Path(__file__).resolve().parents[2] / "samples" / "events"
TRACE = TraceContext.of_batch("shop", "orders", "2024-05-01T10:00:00Z")


def test_a_batch_id_is_the_same_for_the_same_connector_unit_and_timelabel() -> None:
    first = batch_id("shop", "orders", "2024-05-01T10:00:00Z")
    assert first == batch_id("shop", "orders", "2024-05-01T10:00:00Z")
    assert first.startswith("20240501T100000Z-")
    assert first != batch_id("shop", "customers", "2024-05-01T10:00:00Z")
    assert first != batch_id("shop", "orders", "2024-05-01T10:15:00Z")
    assert first != batch_id("shop2", "orders", "2024-05-01T10:00:00Z")


@pytest.mark.parametrize(
    "message",
    [
        Scheduled(trace=TRACE, bounds=Bounds(lower="5", upper="10")),
        Continuation(trace=TRACE, reason="budget", chunk_ms_estimate=1200),
        Extracted(trace=TRACE, manifest_bucket="b", manifest_key="k", rows=3, files=1),
        Loaded(trace=TRACE, rows=3, already=False, watermark="10"),
        Failed(trace=TRACE, stage="load", error="table missing; create it"),
    ],
    ids=lambda message: message.kind,
)
def test_every_message_kind_survives_the_wire_and_carries_the_trace_context(message) -> None:
    body = encode(message)
    parsed = parse_message(body, (type(message),))
    assert parsed == message
    assert json.loads(body)["trace"]["batch_id"] == TRACE.batch_id
    assert set(json.loads(body)["trace"]) == {
        "connector",
        "unit",
        "timelabel",
        "batch_id",
        "chunk",
        "attempt",
    }


def test_a_body_that_is_not_json_is_malformed_and_says_where() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_message("{not json", (Scheduled,))


def test_a_message_with_missing_or_unknown_fields_names_them() -> None:
    body = (EVENTS / "sqs-malformed.json").read_text()
    record_body = json.loads(body)["Records"][0]["body"]
    with pytest.raises(MalformedMessage) as raised:
        parse_message(record_body, (Scheduled,))
    text = str(raised.value)
    assert "trace.timelabel" in text and "rows" in text
    assert "[1, 2, 3]" not in text  # the input is never echoed into logs


def test_a_message_of_a_newer_version_is_refused_with_what_to_do() -> None:
    document = json.loads(encode(Scheduled(trace=TRACE, bounds=Bounds())))
    document["version"] = 2
    with pytest.raises(MalformedMessage, match="version 2 is not 1; deploy"):
        parse_message(json.dumps(document), (Scheduled,))


def test_a_message_of_another_kind_is_refused_and_points_at_the_subscriptions() -> None:
    body = encode(Loaded(trace=TRACE, rows=1, already=False, watermark=None))
    with pytest.raises(MalformedMessage, match="subscriptions"):
        parse_message(body, (Scheduled, Continuation))


def test_an_sns_envelope_is_unwrapped_when_raw_delivery_is_off() -> None:
    inner = encode(Scheduled(trace=TRACE, bounds=Bounds(upper="3")))
    envelope = json.dumps({"Type": "Notification", "MessageId": "m", "Message": inner})
    assert parse_message(envelope, (Scheduled,)) == parse_message(inner, (Scheduled,))


@pytest.mark.parametrize(
    ("sample", "kind"),
    [
        ("sqs-scheduled.json", Scheduled),
        ("sqs-continuation.json", Continuation),
        ("sqs-extracted.json", Extracted),
    ],
)
def test_the_sample_events_hold_valid_messages(sample: str, kind: type) -> None:
    record = json.loads((EVENTS / sample).read_text())["Records"][0]
    message = parse_message(record["body"], (kind,))
    assert message.trace.batch_id == batch_id(
        message.trace.connector, message.trace.unit, message.trace.timelabel
    )
