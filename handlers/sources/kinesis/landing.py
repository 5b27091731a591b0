"""Landing one Kinesis batch in the staging bucket: a file per timelabel, and a quarantine.

File names come from the shard, the batch's first and last sequence numbers and the file's
row (or quarantined record) count, so a retried batch writes the same keys again instead of
adding copies, and the scheduler can write a timelabel's manifest (and `status` count the
records) from one listing, without opening any file.
"""

import base64
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from handlers.contracts.runtime import QUARANTINE_PREFIX, STAGING_PREFIX
from handlers.contracts.schedule import Schedule
from handlers.contracts.spec import StreamTable
from handlers.errors import TransientError
from handlers.sources.csv_rows import csv_line
from handlers.sources.kinesis.records import Accepted, Quarantined, StreamRecord, classify
from handlers.staging import GzipObjectWriter

STREAM_FILES = "stream"
_ROWS_IN_NAME = re.compile(r"-r(\d+)\.csv\.gz$")
# How many periods past now to look for an open timelabel before giving up (see below).
_OPEN_TIMELABEL_SEARCH = 100
_QUARANTINED_IN_NAME = re.compile(r"-q(\d+)\.jsonl\.gz$")


def timelabel_text(timelabel: datetime) -> str:
    """A timelabel as it appears in S3 keys: compact, sortable, UTC."""
    return timelabel.strftime("%Y%m%dT%H%M%SZ")


def unit_prefix(connector: str, unit: str) -> str:
    """The staging prefix of a unit: one folder per timelabel below it."""
    return f"{STAGING_PREFIX}/{connector}/{unit}/"


def stream_files_prefix(connector: str, unit: str, timelabel: datetime) -> str:
    """Where the stream function lands a timelabel's files; the scheduler lists it to close."""
    return f"{unit_prefix(connector, unit)}{timelabel_text(timelabel)}/{STREAM_FILES}/"


def rows_in_file(key: str) -> int:
    """The row count a landed file's name carries."""
    found = _ROWS_IN_NAME.search(key)
    if found is None:
        raise ValueError(f"{key} is not a landed stream file")
    return int(found[1])


def quarantine_prefix(connector: str, unit: str) -> str:
    return f"{QUARANTINE_PREFIX}/{connector}/{unit}/"


def records_in_quarantine_file(key: str) -> int:
    """The record count a quarantine file's name carries; 0 for any other key."""
    found = _QUARANTINED_IN_NAME.search(key)
    return int(found[1]) if found else 0


@dataclass
class Landed:
    """What one batch of records produced."""

    rows_by_timelabel: dict[datetime, int] = field(default_factory=dict)
    quarantined: int = 0
    late: int = 0
    keys: list[str] = field(default_factory=list)


def land_records(
    s3: Any,
    *,
    bucket: str,
    connector: str,
    table: StreamTable,
    schedule: Schedule,
    records: list[StreamRecord],
    closed: Callable[[datetime], bool],
    now: datetime,
) -> Landed:
    """Classify the records, write the good ones by timelabel and quarantine the rest.

    A record whose timelabel the scheduler has already closed lands in the timelabel of
    `now`, which is still open: late, but neither lost nor waiting for ever.
    """
    accepted: dict[datetime, list[Accepted]] = defaultdict(list)
    quarantined: list[Quarantined] = []
    for record in records:
        result = classify(record, table, schedule)
        if isinstance(result, Quarantined):
            quarantined.append(result)
            continue
        accepted[result.timelabel].append(result)
    closed_labels = [label for label in accepted if closed(label)]
    if closed_labels:
        open_label = _first_open_timelabel(schedule, now, closed)
        for timelabel in closed_labels:
            accepted[open_label] += [replace(row, late=True) for row in accepted.pop(timelabel)]

    landed = Landed(quarantined=len(quarantined))
    name = _file_name(records)
    for timelabel, rows in sorted(accepted.items()):
        key = stream_files_prefix(connector, table.name, timelabel) + f"{name}-r{len(rows)}.csv.gz"
        _write_rows(s3, bucket, key, rows)
        landed.rows_by_timelabel[timelabel] = len(rows)
        landed.late += sum(row.late for row in rows)
        landed.keys.append(key)
    if quarantined:
        key = f"{quarantine_prefix(connector, table.name)}{name}-q{len(quarantined)}.jsonl.gz"
        _write_quarantine(s3, bucket, key, quarantined)
        landed.keys.append(key)
    return landed


def _first_open_timelabel(
    schedule: Schedule, now: datetime, closed: Callable[[datetime], bool]
) -> datetime:
    """The timelabel of now, or the next one still open when a tick ran early (a backfill or
    a hand-fired `trigger` with a later time can close the timelabel of now)."""
    label = schedule.timelabel(now)
    for _ in range(_OPEN_TIMELABEL_SEARCH):
        if not closed(label):
            return label
        label = schedule.next_timelabel(label)
    raise TransientError(
        f"no open timelabel within {_OPEN_TIMELABEL_SEARCH} periods after {label:%Y-%m-%dT%H:%MZ};"
        " a tick far in the future closed them: records wait until real time catches up"
    )


def _file_name(records: list[StreamRecord]) -> str:
    first, last = records[0], records[-1]
    return f"{first.shard_id}-{first.sequence_number}-{last.sequence_number}"


def _write_rows(s3: Any, bucket: str, key: str, rows: list[Accepted]) -> None:
    with GzipObjectWriter(s3, bucket, key) as out:
        for row in rows:
            out.write(csv_line(row.values))


def _write_quarantine(s3: Any, bucket: str, key: str, rejected: list[Quarantined]) -> None:
    with GzipObjectWriter(s3, bucket, key) as out:
        for item in rejected:
            entry = {
                "shard_id": item.record.shard_id,
                "sequence_number": item.record.sequence_number,
                "arrival": item.record.arrival.isoformat(),
                "reason": item.reason,
                "data_base64": base64.b64encode(item.record.data).decode(),
            }
            out.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
