import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from generator.specs import load_specs
from handlers.contracts.schedule import parse_schedule
from handlers.sources.kinesis.landing import land_records, rows_in_file
from handlers.sources.kinesis.records import StreamRecord

SAMPLES = Path(__file__).parents[3] / "samples"
BUCKET = "staging"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def spec():
    return load_specs([Path(__file__).parents[4] / "connectors" / "app-events.yaml"])["app-events"]


@pytest.fixture
def records():
    event = json.loads((SAMPLES / "events" / "kinesis-app-events.json").read_text())
    return [StreamRecord.from_event(record) for record in event["Records"]]


NOW = datetime(2025, 12, 3, 14, 7, tzinfo=UTC)


def land(s3, spec, records, closed=lambda _timelabel: False):
    schedule = parse_schedule(spec.schedule)
    return land_records(
        s3,
        bucket=BUCKET,
        connector=spec.name,
        table=spec.source.table,
        schedule=schedule,
        records=records,
        closed=closed,
        now=NOW,
    )


def read_lines(s3, key):
    return gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()


def test_good_records_land_in_their_timelabel_and_bad_ones_in_the_quarantine(s3, spec, records):
    landed = land(s3, spec, records)

    rows_key, quarantine_key = landed.keys
    assert rows_key.startswith("batches/app-events/app_events/20251203T135000Z/stream/shardId-")
    assert rows_in_file(rows_key) == len(read_lines(s3, rows_key)) == 2
    reasons = [json.loads(line)["reason"] for line in read_lines(s3, quarantine_key)]
    assert len(reasons) == 3
    assert landed.quarantined == 3
    assert landed.late == 1


def test_a_retried_batch_rewrites_the_same_files(s3, spec, records):
    first = land(s3, spec, records)
    second = land(s3, spec, records)

    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert first.keys == second.keys
    assert sorted(item["Key"] for item in listed) == sorted(first.keys)


def test_records_of_a_closed_timelabel_land_late_in_the_open_one(s3, spec, records):
    landed = land(s3, spec, records, closed=lambda timelabel: timelabel.minute == 50)

    assert landed.keys[0].startswith("batches/app-events/app_events/20251203T140500Z/stream/")
    assert landed.late == 2
    assert landed.rows_by_timelabel == {datetime(2025, 12, 3, 14, 5, tzinfo=UTC): 2}


def test_when_the_timelabel_of_now_is_closed_too_records_land_in_the_next_open_one(
    s3, spec, records
):
    closed = {datetime(2025, 12, 3, 13, 50, tzinfo=UTC), datetime(2025, 12, 3, 14, 5, tzinfo=UTC)}

    landed = land(s3, spec, records, closed=lambda timelabel: timelabel in closed)

    assert landed.rows_by_timelabel == {datetime(2025, 12, 3, 14, 10, tzinfo=UTC): 2}
