"""The app-events flow (Kinesis into PostgreSQL) on the local runtime, through the deployed
stacks: records put on the moto stream are landed by the real stream function (polled as
Lambda polls a shard), closed into a batch by the real scheduler and merged by the real load
function into a real PostgreSQL warehouse."""

import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from generator.local.postgres import PostgresServer
from generator.local.runtime import LocalRuntime
from handlers.contracts import runtime as contract
from handlers.contracts.schedule import parse_schedule
from handlers.orchestration import services, stream
from tests.fakes.databases import fresh_database, rds_secret
from tests.integration.local.deployed import (
    ACCOUNT,
    REGION,
    deployed_connector,
    secrets_pointing_at,
)

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

CONNECTOR = "app-events"
PERIOD_AND_LATENESS = timedelta(minutes=5 + 5)  # the example spec's schedule and lateness


@pytest.fixture
def flow(local_deployment: Any, postgres_server: PostgresServer) -> Iterator[dict[str, Any]]:
    """The deployed flow, its environment, and a fresh warehouse behind its secret."""
    deployed = deployed_connector(local_deployment.endpoint, CONNECTOR)
    environment = deployed.environment
    (mapping,) = [
        m for m in deployed.wiring.stream_mappings if m.function_name == f"{CONNECTOR}-stream"
    ]
    with (
        fresh_database(postgres_server, "reef_events_warehouse") as warehouse,
        secrets_pointing_at(
            deployed.client("secretsmanager"),
            {environment[contract.DESTINATION_SECRET_ID]: rds_secret(warehouse)},
        ),
    ):
        yield {
            "endpoint": deployed.endpoint,
            "environment": environment,
            "stream_arn": mapping.stream_arn,
            "warehouse": warehouse,
            "client": deployed.client,
        }


def put_records(flow: dict[str, Any], documents: list[bytes]) -> None:
    kinesis = flow["client"]("kinesis")
    for number, data in enumerate(documents):
        kinesis.put_record(StreamARN=flow["stream_arn"], Data=data, PartitionKey=str(number))


def warehouse_rows(flow: dict[str, Any], run: str) -> list[tuple[Any, ...]]:
    """This run's rows in the warehouse; none before the first load creates the table."""
    with psycopg2.connect(flow["warehouse"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('events.app_events') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(
            "SELECT event_id, kind, user_id FROM events.app_events WHERE event_id LIKE %s"
            " ORDER BY event_id",
            (f"{run}%",),
        )
        return cursor.fetchall()


def quarantine_reasons(flow: dict[str, Any]) -> list[str]:
    s3 = flow["client"]("s3")
    bucket = flow["environment"][contract.STAGING_BUCKET]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"quarantine/{CONNECTOR}/")
    reasons = []
    for item in listed.get("Contents", []):
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        reasons += [json.loads(line)["reason"] for line in body.splitlines()]
    return reasons


def test_stream_records_load_once_after_their_timelabel_closes_whatever_goes_wrong(flow):
    """Bad records, a record put twice, a late record and a retried batch, in one flow run:
    the tests share the deployed stream, and closing a timelabel is once only."""
    run = f"run-{uuid.uuid4().hex[:8]}-"
    now = datetime.now(UTC)
    late_time = now - timedelta(minutes=4)  # within the example's 5-minute lateness bound
    good = [
        {"event_id": f"{run}{n}", "occurred_at": now.isoformat(), "kind": "view", "user_id": n}
        for n in range(6)
    ]
    good.append({"event_id": f"{run}late", "occurred_at": late_time.isoformat(), "kind": "l"})
    bad_type = dict(good[0], event_id=f"{run}badtype", user_id="seven")
    documents = [json.dumps(document).encode() for document in good]
    documents += [
        b'{"event_id": "' + run.encode() + b'broken", ',  # not JSON
        json.dumps({"event_id": f"{run}nokind", "occurred_at": now.isoformat()}).encode(),
        json.dumps(bad_type).encode(),
        documents[0],  # the same event again: merged away by its key
    ]
    put_records(flow, documents)

    # The stream function lands its first batch and then dies, once: Lambda retries the
    # batch (bisecting it), so the same records are landed again in other files.
    services.reset()
    calls: list[set[str]] = []

    def land_then_die_once(event: dict[str, Any], context: Any) -> Any:
        answer = stream.handler(event, context)
        calls.append({record["kinesis"]["sequenceNumber"] for record in event["Records"]})
        if len(calls) == 1:
            raise RuntimeError("the invocation died after landing its files")
        return answer

    local = LocalRuntime(
        flow["endpoint"],
        REGION,
        ACCOUNT,
        retry_delay_seconds=0,
        handlers={f"{CONNECTOR}-stream": land_then_die_once},
    )
    local.refresh()
    local.run_until_idle(300)
    assert warehouse_rows(flow, run) == []  # landed, but the timelabels are still open
    assert calls[0] <= set().union(*calls[1:])  # the first batch was delivered again

    schedule = parse_schedule("rate(5 minutes)")
    assert local.trigger(CONNECTOR, schedule.timelabel(now) + PERIOD_AND_LATENESS).ok
    local.run_until_idle(300)

    assert [row[0] for row in warehouse_rows(flow, run)] == sorted(e["event_id"] for e in good)
    late_folder = schedule.timelabel(late_time).strftime("%Y%m%dT%H%M%SZ")
    assert f"{run}late".encode() in landed_in(flow, late_folder)
    reasons = quarantine_reasons(flow)
    assert any(reason.startswith("not JSON") for reason in reasons)
    assert "field 'kind' is required and missing" in reasons
    assert "field 'user_id': \"seven\" is not a bigint" in reasons


def landed_in(flow: dict[str, Any], folder: str) -> bytes:
    """Every row landed under one timelabel folder of the stream unit."""
    s3 = flow["client"]("s3")
    bucket = flow["environment"][contract.STAGING_BUCKET]
    prefix = f"{contract.STAGING_PREFIX}/{CONNECTOR}/app_events/{folder}/stream/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return b"".join(
        gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        for item in listed
    )
