import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.specs import load_specs
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import KinesisSource
from handlers.sources.csv_rows import csv_line
from handlers.sources.kinesis.records import Accepted, Quarantined, StreamRecord, classify

SAMPLES = Path(__file__).parents[3] / "samples"


@pytest.fixture
def app_events():
    spec = load_specs([Path(__file__).parents[4] / "connectors" / "app-events.yaml"])["app-events"]
    assert isinstance(spec.source, KinesisSource)
    return spec.source.table, parse_schedule(spec.schedule)


@pytest.fixture
def sample_records():
    event = json.loads((SAMPLES / "events" / "kinesis-app-events.json").read_text())
    return [StreamRecord.from_event(record) for record in event["Records"]]


def classify_all(records, app_events):
    table, schedule = app_events
    return [classify(record, table, schedule) for record in records]


def test_a_valid_record_becomes_values_in_column_order_in_its_event_time_label(
    app_events, sample_records
):
    first = classify_all(sample_records, app_events)[0]

    assert isinstance(first, Accepted)
    assert first.values == [
        "e-1",
        "2025-12-03T13:52:10+00:00",
        "42",
        "click",
        '{"button":"buy","note":"a \\"quoted\\", comma"}',
    ]
    assert first.timelabel == datetime(2025, 12, 3, 13, 50, tzinfo=UTC)
    assert not first.late


def test_malformed_json_a_missing_required_field_and_a_wrong_type_are_quarantined_with_reasons(
    app_events, sample_records
):
    results = classify_all(sample_records, app_events)

    reasons = {
        r.record.sequence_number[-1]: r.reason for r in results if isinstance(r, Quarantined)
    }
    assert set(reasons) == {"2", "3", "4"}
    assert reasons["2"].startswith("not JSON")
    assert reasons["3"] == "field 'kind' is required and missing"
    assert reasons["4"] == "field 'user_id': \"seven\" is not a bigint"


def test_an_event_later_than_the_lateness_bound_lands_by_arrival_time(app_events, sample_records):
    late = classify_all(sample_records, app_events)[4]

    assert isinstance(late, Accepted)
    assert late.late
    assert late.timelabel == datetime(2025, 12, 3, 13, 50, tzinfo=UTC)
    assert late.values[1] == "2025-12-03T12:52:13+00:00"


def test_null_and_empty_string_stay_apart_in_the_csv_line(app_events, sample_records):
    late = classify_all(sample_records, app_events)[4]

    assert csv_line(late.values) == b'"e-5","2025-12-03T12:52:13+00:00",,"",\n'


@pytest.mark.parametrize(
    ("column_type", "value", "expected"),
    [
        ("integer", 2**31 - 1, "2147483647"),
        ("integer", 2**31, None),
        ("bigint", True, None),
        ("numeric", "12345678901234567890.123456789", "12345678901234567890.123456789"),
        ("numeric", "NaN", None),
        ("double", 1.5, "1.5"),
        ("boolean", "yes", None),
        ("date", "2025-02-30", None),
        ("timestamptz", "2025-01-01T00:00:00", None),
        ("json", [1, "two"], '[1,"two"]'),
    ],
)
def test_values_are_checked_against_their_column_type(column_type, value, expected):
    from handlers.contracts.spec import StreamTable

    table = StreamTable.model_validate(
        {"name": "t", "columns": [{"name": "v", "type": column_type, "required": True}]}
    )
    record = StreamRecord(
        "shard-1", "1", datetime(2025, 1, 1, tzinfo=UTC), json.dumps({"v": value}).encode()
    )

    result = classify(record, table, parse_schedule("rate(5 minutes)"))

    if expected is None:
        assert isinstance(result, Quarantined)
        assert f"is not a {column_type}" in result.reason
    else:
        assert isinstance(result, Accepted)
        assert result.values == [expected]
