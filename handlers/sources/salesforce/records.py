"""Salesforce records (REST JSON, Bulk API 2.0 CSV) written as Reef's chunk CSV.

The chunk format is PostgreSQL's CSV (see handlers.contracts.batch): a NULL is an unquoted
empty field, an empty string is "". Salesforce has no empty text values (it stores them as
null), and Bulk API 2.0 writes a null as an empty field, so an empty Bulk value is a NULL.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from handlers.errors import TransientError
from handlers.sources.salesforce.describe import ObjectShape

_NEEDS_QUOTES = frozenset(',"\r\n')


def encode(value: Any) -> str:
    """One value as a PostgreSQL CSV field."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = value if isinstance(value, str) else _text(value)
    if text in {"", "\\."} or not _NEEDS_QUOTES.isdisjoint(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def write_rows(out: IO[bytes], rows: Iterable[list[Any]]) -> int:
    """Write rows as CSV lines into `out`; returns how many."""
    count = 0
    for row in rows:
        out.write((",".join(encode(value) for value in row) + "\n").encode("utf-8"))
        count += 1
    return count


def datetime_value(value: str) -> str:
    """REST writes '+0000', Bulk 'Z'; files use 'Z' so both paths give the same bytes."""
    return value[:-5] + "Z" if value.endswith("+0000") else value


def rest_rows(records: list[dict[str, Any]], shape: ObjectShape) -> Iterator[list[Any]]:
    """The values of REST query records, in the shape's field order."""
    datetimes = {f.name for f in shape.fields if f.type == "datetime"}
    for record in records:
        row = []
        for name in shape.names:
            value = record.get(name)
            if name in datetimes and isinstance(value, str):
                value = datetime_value(value)
            row.append(value)
        yield row


def bulk_rows(text: str, shape: ObjectShape) -> Iterator[list[Any]]:
    """The values of one page of Bulk API 2.0 CSV results, in the shape's field order."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    positions = _positions(header, shape)
    datetimes = {i for i, f in enumerate(shape.fields) if f.type == "datetime"}
    for line in reader:
        row: list[Any] = []
        for i, position in enumerate(positions):
            value: str | None = line[position] or None
            if value is not None and i in datetimes:
                value = datetime_value(value)
            row.append(value)
        yield row


def _positions(header: list[str], shape: ObjectShape) -> list[int]:
    by_name = {name.lower(): i for i, name in enumerate(header)}
    missing = [name for name in shape.names if name.lower() not in by_name]
    if missing:
        raise TransientError(
            f"bulk results of {shape.name} lack column(s) {', '.join(missing)}; will retry"
        )
    return [by_name[name.lower()] for name in shape.names]
