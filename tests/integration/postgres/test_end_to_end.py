"""PostgreSQL to PostgreSQL through the real runtime: the scheduler, extract and load handlers
in moto, driven like Lambda's pollers, with real servers at both ends; secrets are read from
Secrets Manager (moto) as deployed functions read them. Every type of the round-trip table
must arrive unchanged, through an initial and an incremental batch, with kills at every step
boundary and every message delivered twice."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from handlers.bookkeeping import BatchState, open_ledger
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import load
from tests.fakes.databases import rds_secret
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, deploy_flow, undeploy_flow, use_real_connector
from tests.integration.postgres.conftest import execute
from tests.integration.postgres.test_round_trip import TABLE, as_text, seed

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TICKS = ("2026-01-05T09:07:00Z", "2026-01-05T09:22:00Z")
# plain rows of the kill scenarios: two chunks of the first batch, so that a continuation
# and a multi-file load are among the steps, at a fraction of the full table's time
KILL_SCENARIO_ROWS = 1200


def connector(table: dict[str, Any]) -> ConnectorSpec:
    return ConnectorSpec.model_validate(
        {
            "name": CONNECTOR,
            "source": {"type": "postgres", "secret": "reef/source", "tables": [table]},
            "destination": {
                "type": "postgres",
                "secret": "reef/warehouse",
                "schema": "Ware House",
                "mode": "merge",
            },
            "schedule": "rate(15 minutes)",
        }
    )


@pytest.fixture
def ends(postgres_dsn: str, warehouse_dsn: str) -> Iterator[tuple[str, str]]:
    seed(postgres_dsn)
    yield postgres_dsn, warehouse_dsn


def deploy(monkeypatch: pytest.MonkeyPatch, source_dsn: str, warehouse_dsn: str) -> Any:
    """The moto flow of the runtime tests, with this connector and the real packages."""
    flow = deploy_flow(monkeypatch, mode="merge")
    use_real_connector(
        flow,
        monkeypatch,
        connector(TABLE.model_dump(by_alias=True)),
        {"reef/source": rds_secret(source_dsn), "reef/warehouse": rds_secret(warehouse_dsn)},
    )
    return flow


def change_the_source(dsn: str) -> None:
    """Inserts, updates and soft deletes after the first batch."""
    execute(
        dsn,
        'INSERT INTO "Sales Data"."Order Lines" ("Order Id", line, "select", "Updated At")'
        " VALUES (5000, 1, 'new', '2026-01-02'), (5000, 2, NULL, '2026-01-02');"
        ' UPDATE "Sales Data"."Order Lines" SET "select" = \'changed, "again"\','
        ' "Updated At" = \'2026-01-02 00:00:01+00\' WHERE "Order Id" IN (1, 150);'
        ' UPDATE "Sales Data"."Order Lines" SET deleted = true,'
        ' "Updated At" = \'2026-01-02 00:00:02+00\' WHERE "Order Id" = 2',
    )


def run_two_batches(
    monkeypatch: pytest.MonkeyPatch,
    source_dsn: str,
    warehouse_dsn: str,
    kill_at: int | None = None,
    duplicates: bool = False,
) -> Driver:
    """Initial batch, source changes, incremental batch; the warehouse checked after each."""
    with mock_aws():
        flow = deploy(monkeypatch, source_dsn, warehouse_dsn)
        driver = Driver(flow, kill_at=kill_at, duplicates=duplicates)
        try:
            driver.tick(TICKS[0])
            driver.run_until_idle()
            assert_same_rows(source_dsn, warehouse_dsn)
            change_the_source(source_dsn)
            driver.tick(TICKS[1])
            driver.run_until_idle()
            assert_same_rows(source_dsn, warehouse_dsn)
            batches = open_ledger().latest_batches(CONNECTOR, TABLE.unit, 5)
            assert [batch.state for batch in batches] == [BatchState.LOADED] * 2
            assert flow.messages(flow.dead_letter_queues["load"]) == []
        finally:
            driver.close()
            undeploy_flow()
    return driver


def assert_same_rows(source_dsn: str, warehouse_dsn: str) -> None:
    warehouse = as_text(warehouse_dsn, "Ware House", "Order Lines")
    source = as_text(source_dsn, "Sales Data", "Order Lines")
    keys = Counter(row[:2] for row in warehouse)
    assert [key for key, seen in keys.items() if seen > 1] == []
    assert warehouse == source


def reset(source_dsn: str, warehouse_dsn: str) -> None:
    execute(source_dsn, 'DROP SCHEMA "Sales Data" CASCADE')
    seed(source_dsn, plain_rows=KILL_SCENARIO_ROWS)
    execute(warehouse_dsn, 'DROP SCHEMA IF EXISTS "Ware House" CASCADE')


def test_two_batches_arrive_row_for_row_through_the_runtime(
    monkeypatch: pytest.MonkeyPatch, ends: tuple[str, str]
) -> None:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)

    driver = run_two_batches(monkeypatch, *ends)

    assert driver.kills == []


def test_every_row_arrives_once_whatever_step_dies_with_every_message_twice(
    monkeypatch: pytest.MonkeyPatch, ends: tuple[str, str]
) -> None:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    reset(*ends)
    baseline = run_two_batches(monkeypatch, *ends, duplicates=True)
    # each kind of step boundary, where it is first and where it is last reached: every step
    # of both batches, at a fraction of the time of every boundary in turn (the runtime
    # core's reliability test covers each boundary with fakes at both ends)
    first = {name: index for index, name in reversed(list(enumerate(baseline.boundaries)))}
    last = {name: index for index, name in enumerate(baseline.boundaries)}
    kill_points = sorted({*first.values(), *last.values()})

    killed_at: list[str] = []
    for index in kill_points:
        reset(*ends)
        driver = run_two_batches(monkeypatch, *ends, kill_at=index + 1, duplicates=True)
        killed_at += driver.kills

    assert sorted(set(killed_at)) == sorted(set(baseline.boundaries))
    assert len(killed_at) == len(kill_points)
