"""`reef status`: per unit, the newest batches with their state, counts, timings and error.

It reads the environment's book-keeping table through handlers.bookkeeping, from whatever
AWS endpoint boto3 is configured for (AWS_ENDPOINT_URL points it at the local emulator).
The JSON form is stable for scripts: keys are sorted and only ever added to.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from generator.environments import Environment
from generator.naming import bookkeeping_table_name, staging_bucket_name
from handlers.bookkeeping import Ledger, Watermark
from handlers.contracts.messages import format_timelabel
from handlers.contracts.spec import ConnectorSpec, KinesisSource
from handlers.errors import ReefError
from handlers.sources.kinesis.landing import (
    quarantine_prefix,
    records_in_quarantine_file,
    rows_in_file,
    unit_prefix,
)

# Lambda's IteratorAge metric of the stream function: how far behind the shards it reads.
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
ITERATOR_AGE_WINDOW = timedelta(minutes=15)

STATUS_VERSION = 1


class StatusUnavailable(Exception):
    """The book-keeping table could not be read; the message says why."""


def collect_status(
    environment: Environment,
    specs: list[ConnectorSpec],
    limit: int = 5,
    table_name: str | None = None,
    bucket_name: str | None = None,
) -> dict[str, Any]:
    """The status document of the connectors given: watermark and newest batches per unit."""
    name = table_name or bookkeeping_table_name(environment)
    table = boto3.resource("dynamodb", region_name=environment.region).Table(name)
    ledger = Ledger(table, ttl_days=environment.bookkeeping_ttl_days)
    try:
        connectors = {spec.name: _connector_status(ledger, spec, limit) for spec in specs}
        for spec in specs:
            if isinstance(spec.source, KinesisSource):
                bucket = bucket_name or staging_bucket_name(environment)
                connectors[spec.name]["stream"] = _stream_status(environment, spec, ledger, bucket)
    except (ClientError, BotoCoreError, ReefError) as error:
        raise StatusUnavailable(
            f"cannot read book-keeping table {name} in {environment.region}: {error};"
            " is the core stack deployed and are AWS credentials (or AWS_ENDPOINT_URL) set?"
        ) from None
    return {
        "version": STATUS_VERSION,
        "environment": environment.name,
        "table": name,
        "connectors": connectors,
    }


def _connector_status(ledger: Ledger, spec: ConnectorSpec, limit: int) -> dict[str, Any]:
    units = {}
    for unit in spec.units:
        watermark = ledger.watermark(spec.name, unit)
        batches = ledger.latest_batches(spec.name, unit, limit)
        units[unit] = {
            "watermark": _watermark(watermark),
            "batches": [batch.as_dict() for batch in batches],
        }
    return {"units": units}


def _stream_status(
    environment: Environment, spec: ConnectorSpec, ledger: Ledger, bucket: str
) -> dict[str, Any]:
    """Open and closed timelabels with their records, quarantined records, iterator age."""
    assert isinstance(spec.source, KinesisSource)
    unit = spec.source.table.name
    s3 = boto3.client("s3", region_name=environment.region)
    records: dict[str, int] = {}
    for key in _keys(s3, bucket, unit_prefix(spec.name, unit)):
        folder, _, name = key[len(unit_prefix(spec.name, unit)) :].partition("/stream/")
        if name:
            label = datetime.strptime(folder, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            records[format_timelabel(label)] = records.get(format_timelabel(label), 0)
            records[format_timelabel(label)] += rows_in_file(key)
    closed = {label for label in records if ledger.get_batch(spec.name, unit, label) is not None}
    quarantined = sum(
        records_in_quarantine_file(key)
        for key in _keys(s3, bucket, quarantine_prefix(spec.name, unit))
    )
    return {
        "unit": unit,
        "open_timelabels": {n: rows for n, rows in sorted(records.items()) if n not in closed},
        "closed_timelabels": {n: rows for n, rows in sorted(records.items()) if n in closed},
        "quarantined_records": quarantined,
        "iterator_age_seconds": _iterator_age(environment, f"{spec.name}-stream"),
    }


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _iterator_age(environment: Environment, function_name: str) -> float | None:
    """The highest IteratorAge of the last minutes, in seconds; None without data points."""
    end = datetime.now(UTC)
    answer = boto3.client("cloudwatch", region_name=environment.region).get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=end - ITERATOR_AGE_WINDOW,
        EndTime=end,
        Period=60,
        Statistics=["Maximum"],
    )
    points = answer.get("Datapoints", [])
    return max(point["Maximum"] for point in points) / 1000 if points else None


def _watermark(watermark: Watermark | None) -> dict[str, Any] | None:
    if watermark is None:
        return None
    return {
        "value": watermark.value,
        "timelabel": watermark.timelabel,
        "batch_id": watermark.batch_id,
    }


def render_json(status: dict[str, Any]) -> str:
    """The stable JSON form."""
    return json.dumps(status, indent=2, sort_keys=True)


def render_text(status: dict[str, Any]) -> str:
    """A table per unit for people."""
    lines = [f"environment {status['environment']} (table {status['table']})"]
    for connector, found in status["connectors"].items():
        for unit, unit_status in found["units"].items():
            lines.append("")
            lines.append(f"{connector} / {unit}: {_watermark_text(unit_status['watermark'])}")
            if not unit_status["batches"]:
                lines.append("  no batches yet")
                continue
            lines.append(
                f"  {'TIMELABEL':<21}{'STATE':<12}{'ROWS':>10}{'BYTES':>12}"
                f"{'EXTRACT s':>11}{'LOAD s':>9}  ERROR"
            )
            lines.extend(_batch_line(batch) for batch in unit_status["batches"])
        if "stream" in found:
            lines += _stream_lines(connector, found["stream"])
    return "\n".join(lines) + "\n"


def _stream_lines(connector: str, stream: dict[str, Any]) -> list[str]:
    age = stream["iterator_age_seconds"]
    lines = [
        "",
        f"{connector} / {stream['unit']} stream: {stream['quarantined_records']} quarantined,"
        f" iterator age {'-' if age is None else f'{age:.0f} s'}",
    ]
    for state in ("open", "closed"):
        for label, count in stream[f"{state}_timelabels"].items():
            lines.append(f"  {label:<21}{state:<8}{count:>10} records")
    return lines


def _watermark_text(watermark: dict[str, Any] | None) -> str:
    if watermark is None:
        return "not loaded yet"
    return f"loaded up to {watermark['value']} (timelabel {watermark['timelabel']})"


def _batch_line(batch: dict[str, Any]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    error = (batch["error"] or "").splitlines()[0][:80] if batch["error"] else ""
    return (
        f"  {batch['timelabel']:<21}{batch['state']:<12}{batch['rows']:>10}{batch['bytes']:>12}"
        f"{seconds(batch['extract_seconds']):>11}{seconds(batch['load_seconds']):>9}  {error}"
    )
