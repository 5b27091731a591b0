"""Closing the timelabels of a stream unit: the scheduler's work for a Kinesis source.

A timelabel T of a schedule with period P closes once the tick reaches T + P + lateness:
by then every record placed in T has arrived, unless it was later than the spec allows (and
those land, late, in an open timelabel). Closing records T's batch, writes the manifest of
the files the stream function landed under T, and publishes "extracted"; from there a
stream batch loads like any other.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.bookkeeping import Batch, BatchState
from handlers.config import aws_error
from handlers.contracts.batch import Bounds, Column, Manifest, ManifestFile
from handlers.contracts.messages import TraceContext, format_timelabel, parse_timelabel
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import KinesisSource
from handlers.observability import TIMELABELS_CLOSED, count, logger, traced
from handlers.orchestration.extract import publish_extracted
from handlers.orchestration.services import Services, now
from handlers.sources.kinesis.landing import (
    STREAM_FILES,
    rows_in_file,
    timelabel_text,
    unit_prefix,
)

_TIMELABEL_FOLDER = "%Y%m%dT%H%M%SZ"  # handlers.sources.kinesis.landing.timelabel_text


def close_timelabels(flow: Services, source: KinesisSource, tick: datetime) -> str:
    """Close every landed timelabel of the stream unit that is due; says how many."""
    unit = source.table.name
    due = _due_timelabels(flow, source, tick)
    for timelabel in due:
        trace = TraceContext.of_batch(flow.connector, unit, format_timelabel(timelabel))
        with traced(trace):
            _close(flow, source, trace)
    return f"closed {len(due)}" if due else "nothing due"


def _due_timelabels(flow: Services, source: KinesisSource, tick: datetime) -> list[datetime]:
    schedule = parse_schedule(flow.config.schedule)
    period = timedelta(seconds=schedule.period_seconds or 60)
    lateness = timedelta(seconds=source.table.lateness_seconds)
    watermark = flow.ledger.watermark(flow.connector, source.table.name)
    landed = _landed_timelabels(flow, source.table.name, watermark.timelabel if watermark else None)
    return [label for label in landed if label + period + lateness <= tick]


def _landed_timelabels(flow: Services, unit: str, after: str | None) -> list[datetime]:
    """The timelabels with landed files, after the unit's watermark, oldest first."""
    prefix = unit_prefix(flow.connector, unit)
    listing = {"Bucket": flow.staging_bucket, "Prefix": prefix, "Delimiter": "/"}
    if after is not None:
        # timelabel folders sort by time; everything up to the watermark's is loaded
        listing["StartAfter"] = f"{prefix}{timelabel_text(parse_timelabel(after))}/~"
    labels: list[datetime] = []
    try:
        for page in flow.s3.get_paginator("list_objects_v2").paginate(**listing):
            for common in page.get("CommonPrefixes", []):
                folder = common["Prefix"][len(prefix) :].rstrip("/")
                labels.append(datetime.strptime(folder, _TIMELABEL_FOLDER).replace(tzinfo=UTC))
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"listing s3://{flow.staging_bucket}/{prefix}") from error
    return sorted(labels)


# Known shortcoming: the stream function checks that a timelabel is open, then writes its
# file; if the scheduler closes the timelabel between the two, that file is not in the
# manifest and is never loaded. The window is the stream function's processing delay, which
# the iterator-age alarm watches. Closing it would take a later tick that lists closed
# timelabels again and moves files missing from their manifests into the open timelabel.
def _close(flow: Services, source: KinesisSource, trace: TraceContext) -> None:
    batch = flow.ledger.get_batch(trace.connector, trace.unit, trace.timelabel)
    if batch is None:
        bounds = Bounds(upper=trace.timelabel)
        batch = flow.ledger.create_batch(trace, bounds, now())
    if batch.state is BatchState.SCHEDULED:
        batch = flow.ledger.transition(batch, BatchState.EXTRACTING, now()) or batch
    if batch.state is not BatchState.EXTRACTING:
        return  # closed by an earlier tick; the load path owns it now
    manifest = _manifest(flow, source, batch)
    key = flow.write_manifest(trace, manifest)
    extracted = flow.ledger.transition(
        batch,
        BatchState.EXTRACTED,
        now(),
        manifest_key=key,
        rows=manifest.rows,
        bytes=sum(file.bytes for file in manifest.files),
        chunks=len(manifest.files),
    )
    if extracted is None:
        return
    publish_extracted(flow, extracted)
    count(TIMELABELS_CLOSED, 1)
    logger.info("timelabel closed", extra={"rows": manifest.rows, "files": len(manifest.files)})


def _manifest(flow: Services, source: KinesisSource, batch: Batch) -> Manifest:
    table = source.table
    folder = timelabel_text(parse_timelabel(batch.timelabel))
    prefix = f"{unit_prefix(flow.connector, table.name)}{folder}"
    files = [
        ManifestFile(key=item["Key"], rows=rows_in_file(item["Key"]), bytes=item["Size"])
        for item in _list(flow, f"{prefix}/{STREAM_FILES}/")
    ]
    return Manifest(
        connector=batch.connector,
        unit=batch.unit,
        timelabel=batch.timelabel,
        batch_id=batch.batch_id,
        bucket=flow.staging_bucket,
        files=files,
        columns=[
            Column(name=column.name, type=column.type, source_type="stream")
            for column in table.columns
        ],
        primary_key=list(table.primary_key),
        bounds=batch.bounds,
        cursor=table.event_time_field,
        dedup_key=[table.dedup_field] if table.dedup_field else [],
    )


def _list(flow: Services, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    try:
        paginator = flow.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=flow.staging_bucket, Prefix=prefix):
            items += page.get("Contents", [])
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"listing s3://{flow.staging_bucket}/{prefix}") from error
    return sorted(items, key=lambda item: str(item["Key"]))
