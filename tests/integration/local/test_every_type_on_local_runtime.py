"""Every PostgreSQL type of issue 5 through the deployed stacks on the local runtime.

The billing-replica flow deployed in the test emulator is pointed (through its runtime
config document) at the round-trip table of tests/integration/postgres, whose rows hold
every type that must survive unchanged: NULL against '', quotes and newlines, long text,
full-precision numerics, integer limits, time zones, intervals, uuid, json, bytea, arrays,
a composite key and names that need quoting. Two ticks: the initial load, then inserts,
updates and soft deletes merged by the second batch; the warehouse is compared with the
source row by row, every column cast to text.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from generator.local.postgres import PostgresServer
from generator.local.runtime import LocalRuntime
from handlers.contracts.spec import ConnectorSpec
from tests.integration.local.billing_flow import (
    CONNECTOR,
    WAREHOUSE_SCHEMA,
    BillingFlow,
    billing_flow,
)
from tests.integration.local.deployed import ACCOUNT, REGION, deployed_connector, spec_changed
from tests.integration.postgres.test_end_to_end import change_the_source
from tests.integration.postgres.test_round_trip import TABLE, as_text, seed

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

TICKS = (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 5, 10, 0, tzinfo=UTC))


@pytest.fixture
def flow(local_deployment: Any, postgres_server: PostgresServer) -> Iterator[BillingFlow]:
    endpoint = local_deployment.endpoint
    with (
        billing_flow(endpoint, postgres_server) as opened,
        spec_changed(deployed_connector(endpoint, CONNECTOR), _round_trip_table_only),
    ):
        opened.reset()
        seed(opened.source_dsn, plain_rows=1200)  # the tricky rows and two chunks more
        yield opened


def _round_trip_table_only(spec: ConnectorSpec) -> ConnectorSpec:
    return spec.model_copy(update={"source": spec.source.model_copy(update={"tables": [TABLE]})})


def run_tick(flow: BillingFlow, tick: datetime) -> None:
    runtime = LocalRuntime(
        flow.endpoint, REGION, ACCOUNT, retry_delay_seconds=0, only_functions=flow.functions
    )
    runtime.refresh()
    invocation = runtime.trigger(CONNECTOR, tick)
    assert invocation.ok, invocation.error
    runtime.run_until_idle(300)
    assert sum(runtime.summary.errors.values()) == 0, runtime.summary.lines()


def source_rows(flow: BillingFlow) -> list[tuple[Any, ...]]:
    return as_text(flow.source_dsn, "Sales Data", "Order Lines")


def warehouse_rows(flow: BillingFlow) -> list[tuple[Any, ...]]:
    return as_text(flow.warehouse_dsn, WAREHOUSE_SCHEMA, "Order Lines")


def test_every_type_arrives_unchanged_and_a_second_batch_merges_the_changes(flow):
    run_tick(flow, TICKS[0])
    assert warehouse_rows(flow) == source_rows(flow)

    change_the_source(flow.source_dsn)
    run_tick(flow, TICKS[1])

    assert warehouse_rows(flow) == source_rows(flow)
    assert flow.dead_lettered() == 0
