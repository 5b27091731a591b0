"""Kinesis to PostgreSQL through the real runtime: the stream handler lands records, the
scheduler closes timelabels, the load handler merges them into a real warehouse."""

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg2
import pytest
from moto import mock_aws

from generator.environments import load_environment
from generator.operations.status import collect_status, render_text
from handlers.bookkeeping import BatchState, open_ledger
from handlers.contracts import runtime
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import load, stream
from tests.fakes.databases import rds_secret
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, deploy_flow, undeploy_flow, use_real_connector
from tests.fakes.lambda_context import FakeContext

pytestmark = [pytest.mark.postgres]

SAMPLES = Path(__file__).parents[2] / "samples" / "events"
UNIT = "app_events"


def _spec(mode: str) -> ConnectorSpec:
    spec = json.loads((Path(__file__).parent / "app-events.json").read_text())
    destination = {**spec["destination"], "mode": mode}
    return ConnectorSpec.model_validate({**spec, "name": CONNECTOR, "destination": destination})


@pytest.fixture(params=["merge"])
def deployed(request, postgres_dsn, monkeypatch) -> Iterator[Driver]:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    with mock_aws():
        flow = deploy_flow(monkeypatch, mode=request.param)
        secret = rds_secret(postgres_dsn)
        use_real_connector(
            flow,
            monkeypatch,
            _spec(request.param),
            {"reef/warehouse": secret},
            schedule="rate(5 minutes)",
        )
        driver = Driver(flow)
        yield driver
        driver.close()
        undeploy_flow()


def sample_event() -> dict:
    return json.loads((SAMPLES / "kinesis-app-events.json").read_text())


def kinesis_event(records: list[tuple[str, dict, float]]) -> dict:
    """A Kinesis event of (sequence number, document, arrival epoch seconds) records."""
    return {
        "Records": [
            {
                "kinesis": {
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(document).encode()).decode(),
                    "approximateArrivalTimestamp": arrival,
                    "partitionKey": "p",
                },
                "eventID": f"shardId-000000000001:{sequence}",
                "eventSource": "aws:kinesis",
            }
            for sequence, document, arrival in records
        ]
    }


def invoke_stream(event: dict) -> dict:
    return stream.handler(event, FakeContext(timeout_ms=30_000))


def warehouse_rows(dsn: str) -> dict[str, tuple]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, occurred_at::text, user_id, kind, payload::text"
            " FROM events.app_events"
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def test_records_arrive_in_the_warehouse_after_their_timelabel_closes(deployed, postgres_dsn):
    assert invoke_stream(sample_event()) == {"batchItemFailures": []}

    deployed.tick("2025-12-03T13:59:00Z")  # 13:50 + 5 minutes + 5 minutes lateness: not yet
    deployed.run_until_idle()
    assert open_ledger().latest_batches(CONNECTOR, UNIT, 5) == []

    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    assert warehouse_rows(postgres_dsn) == {
        "e-1": (
            "2025-12-03 13:52:10+00",
            42,
            "click",
            '{"note": "a \\"quoted\\", comma", "button": "buy"}',
        ),
        "e-5": ("2025-12-03 12:52:13+00", None, "", None),
    }
    batch = open_ledger().get_batch(CONNECTOR, UNIT, "2025-12-03T13:50:00Z")
    assert batch is not None and batch.state is BatchState.LOADED and batch.rows == 2


def test_bad_records_are_quarantined_with_reasons_and_the_good_ones_load(deployed, postgres_dsn):
    invoke_stream(sample_event())
    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    s3 = boto3.client("s3")
    bucket = deployed.flow.environment[runtime.STAGING_BUCKET]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"quarantine/{CONNECTOR}/")["Contents"]
    body = s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
    reasons = [json.loads(line)["reason"] for line in gzip.decompress(body).splitlines()]
    assert len(reasons) == 3
    assert any(reason.startswith("not JSON") for reason in reasons)
    assert "field 'kind' is required and missing" in reasons
    assert "field 'user_id': \"seven\" is not a bigint" in reasons
    assert set(warehouse_rows(postgres_dsn)) == {"e-1", "e-5"}


def test_a_retried_kinesis_batch_does_not_double_rows(deployed, postgres_dsn):
    invoke_stream(sample_event())
    invoke_stream(sample_event())
    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events.app_events")
        assert cursor.fetchone() == (2,)


def test_late_events_within_the_bound_land_in_their_timelabel(deployed, postgres_dsn):
    arrival = 1764770160.0  # 13:56:00, in the next timelabel
    on_time = {"event_id": "a", "occurred_at": "2025-12-03T13:54:50Z", "kind": "view"}
    invoke_stream(kinesis_event([("1", on_time, arrival)]))

    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    batch = open_ledger().get_batch(CONNECTOR, UNIT, "2025-12-03T13:50:00Z")
    assert batch is not None and batch.state is BatchState.LOADED
    assert set(warehouse_rows(postgres_dsn)) == {"a"}
    assert open_ledger().get_batch(CONNECTOR, UNIT, "2025-12-03T13:55:00Z") is None


@pytest.mark.parametrize("deployed", ["append"], indirect=True)
def test_duplicate_event_ids_within_a_batch_are_dropped_at_load_even_in_append_mode(
    deployed, postgres_dsn
):
    first = {"event_id": "same", "occurred_at": "2025-12-03T13:51:00Z", "kind": "first"}
    again = {"event_id": "same", "occurred_at": "2025-12-03T13:51:00Z", "kind": "again"}
    invoke_stream(kinesis_event([("1", first, 1764769900.0)]))
    invoke_stream(kinesis_event([("2", again, 1764769910.0)]))

    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT kind FROM events.app_events")
        assert cursor.fetchall() == [("first",)]


def test_status_shows_open_and_closed_timelabels_and_quarantined_records(deployed):
    invoke_stream(sample_event())
    later = {"event_id": "b", "occurred_at": "2025-12-03T14:01:00Z", "kind": "view"}
    invoke_stream(kinesis_event([("9", later, 1764770470.0)]))
    deployed.tick("2025-12-03T14:00:00Z")
    deployed.run_until_idle()

    environment = load_environment("local")
    found = collect_status(
        environment,
        [_spec("merge")],
        table_name=deployed.flow.environment[runtime.BOOKKEEPING_TABLE],
        bucket_name=deployed.flow.environment[runtime.STAGING_BUCKET],
    )

    stream_status = found["connectors"][CONNECTOR]["stream"]
    assert stream_status["closed_timelabels"] == {"2025-12-03T13:50:00Z": 2}
    assert stream_status["open_timelabels"] == {"2025-12-03T14:00:00Z": 1}
    assert stream_status["quarantined_records"] == 3
    assert stream_status["iterator_age_seconds"] is None  # moto records no Lambda metrics
    assert "13:50:00Z" in render_text(found)
