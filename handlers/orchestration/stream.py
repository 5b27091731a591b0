"""The stream handler: land each Kinesis batch in S3 under its records' timelabels.

Lambda's Kinesis poller invokes it with a batch of records from one shard. Good records go
to one gzip file per timelabel, bad ones to the quarantine with the reason; a bad record
never fails the batch, so it never blocks its shard. The scheduler later closes each
timelabel and publishes "extracted" with its files (handlers.orchestration.timelabels).
"""

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.config import aws_error
from handlers.contracts.messages import format_timelabel
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import KinesisSource
from handlers.errors import TerminalError, TransientError
from handlers.observability import (
    QUARANTINED,
    ROWS,
    count,
    logger,
    metrics,
    start_invocation,
)
from handlers.orchestration.services import Services, now, services
from handlers.sources.kinesis.landing import Landed, land_records
from handlers.sources.kinesis.records import StreamRecord


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Land the records of a Kinesis event; the partial batch response."""
    flow = services()
    start_invocation(flow.connector)
    records = [StreamRecord.from_event(record) for record in event.get("Records", [])]
    if not records:
        return {"batchItemFailures": []}
    try:
        landed = land(flow, records)
    except TransientError as error:
        # Reporting the first record retries the whole batch from it, without bisecting:
        # the records are fine, S3 or DynamoDB was not.
        # https://docs.aws.amazon.com/lambda/latest/dg/kinesis-batchfailurereporting.html
        logger.warning("batch not landed; Lambda retries it", extra={"error": str(error)})
        return {"batchItemFailures": [{"itemIdentifier": records[0].sequence_number}]}
    _report(landed, records)
    return {"batchItemFailures": []}


def land(flow: Services, records: list[StreamRecord]) -> Landed:
    """Write one batch of records to the staging bucket."""
    source = flow.config.connector.source
    if not isinstance(source, KinesisSource):
        raise TerminalError(
            f"connector {flow.connector} has a {source.type} source; the stream function"
            " serves only kinesis sources"
        )
    try:
        return land_records(
            flow.s3,
            bucket=flow.staging_bucket,
            connector=flow.connector,
            table=source.table,
            schedule=parse_schedule(flow.config.schedule),
            records=records,
            closed=lambda timelabel: _closed(flow, source.table.name, timelabel),
            now=now(),
        )
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, "landing stream records") from error


def _closed(flow: Services, unit: str, timelabel: datetime) -> bool:
    # the scheduler records a batch when it closes a timelabel
    return flow.ledger.get_batch(flow.connector, unit, format_timelabel(timelabel)) is not None


def _report(landed: Landed, records: list[StreamRecord]) -> None:
    rows = sum(landed.rows_by_timelabel.values())
    count(ROWS, rows)
    count(QUARANTINED, landed.quarantined)
    logger.info(
        "stream batch landed",
        extra={
            "shard_id": records[0].shard_id,
            "first_sequence_number": records[0].sequence_number,
            "records": len(records),
            "rows": rows,
            "quarantined": landed.quarantined,
            "late": landed.late,
            "timelabels": sorted(format_timelabel(label) for label in landed.rows_by_timelabel),
        },
    )
