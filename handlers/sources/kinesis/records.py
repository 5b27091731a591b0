"""Kinesis records: decoded from JSON, checked against the table's columns, placed in a timelabel.

A record that cannot be loaded (not JSON, a required field missing, a value of the wrong type)
is quarantined with the reason; it never fails its batch, so it never blocks its shard.
"""

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from handlers.contracts.schedule import Schedule
from handlers.contracts.spec import StreamColumn, StreamTable

_INTEGER_LIMITS = {"integer": 2**31, "bigint": 2**63}


@dataclass(frozen=True)
class StreamRecord:
    """The parts of a Kinesis event record that Reef uses."""

    shard_id: str
    sequence_number: str
    arrival: datetime
    data: bytes

    @classmethod
    def from_event(cls, record: dict[str, Any]) -> "StreamRecord":
        """From one entry of a Lambda Kinesis event's `Records`."""
        kinesis = record["kinesis"]
        # eventID is "<shardId>:<sequenceNumber>"
        # https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
        shard_id = str(record.get("eventID", "shard:")).split(":", 1)[0]
        arrival = datetime.fromtimestamp(float(kinesis["approximateArrivalTimestamp"]), UTC)
        try:
            data = base64.b64decode(kinesis["data"], validate=True)
        except (binascii.Error, ValueError):
            data = str(kinesis["data"]).encode()
        return cls(shard_id, kinesis["sequenceNumber"], arrival, data)


@dataclass(frozen=True)
class Accepted:
    """A record that fits the table: its values in column order, and its timelabel."""

    record: StreamRecord
    timelabel: datetime
    values: list[str | None]
    late: bool = False


@dataclass(frozen=True)
class Quarantined:
    """A record that does not fit the table, and why."""

    record: StreamRecord
    reason: str


class RecordInvalid(ValueError):
    """One reason a record does not fit its table."""


def classify(
    record: StreamRecord, table: StreamTable, schedule: Schedule
) -> Accepted | Quarantined:
    """Decode and check one record, and place it in its timelabel."""
    try:
        document = _decode(record.data)
        values = [_value(column, document) for column in table.columns]
    except RecordInvalid as invalid:
        return Quarantined(record, str(invalid))
    placed_at, late = _placement_time(record, document, table)
    return Accepted(record, schedule.timelabel(placed_at), values, late)


def _decode(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordInvalid(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise RecordInvalid(f"expected a JSON object, found {type(document).__name__}")
    return document


def _placement_time(
    record: StreamRecord, document: dict[str, Any], table: StreamTable
) -> tuple[datetime, bool]:
    """Event time when the spec names a field and the record is within the lateness bound."""
    stamp = document.get(table.event_time_field) if table.event_time_field else None
    if stamp is None:
        return record.arrival, False
    event_time = _parse_timestamp(str(stamp))  # checked by _value as a timestamptz column
    if record.arrival - event_time > timedelta(seconds=table.lateness_seconds):
        # Its timelabel has closed: land it by arrival so that nothing is lost or waits.
        return record.arrival, True
    return event_time, False


def _value(column: StreamColumn, document: dict[str, Any]) -> str | None:
    value = document.get(column.name)
    if value is None:
        if column.required:
            raise RecordInvalid(f"field {column.name!r} is required and missing")
        return None
    try:
        return _FORMATTERS[column.type](value)
    except (TypeError, ValueError, InvalidOperation, OverflowError):
        shown = json.dumps(value)[:60]
        raise RecordInvalid(f"field {column.name!r}: {shown} is not a {column.type}") from None


def _integer(kind: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(value)
        number = int(value)
        if not -_INTEGER_LIMITS[kind] <= number < _INTEGER_LIMITS[kind]:
            raise OverflowError(value)
        return str(number)

    return check


def _numeric(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(value)
    return str(number)


def _double(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(value)
    return repr(number)


def _boolean(value: Any) -> str:
    if not isinstance(value, bool):
        raise TypeError(value)
    return "true" if value else "false"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _date(value: Any) -> str:
    return date.fromisoformat(_text(value)).isoformat()


def _parse_timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(UTC)


def _timestamptz(value: Any) -> str:
    return _parse_timestamp(_text(value)).isoformat()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "text": _text,
    "integer": _integer("integer"),
    "bigint": _integer("bigint"),
    "numeric": _numeric,
    "double": _double,
    "boolean": _boolean,
    "date": _date,
    "timestamptz": _timestamptz,
    "json": _json,
}
