"""Salesforce to PostgreSQL through the real runtime: scheduler, extract and load handlers in
moto, driven like Lambda's pollers; the source is the stand-in, the warehouse a real server.
Secrets are read from Secrets Manager (moto), as deployed functions read them."""

from collections.abc import Iterator
from datetime import timedelta

import psycopg2
import pytest
from moto import mock_aws

from handlers.bookkeeping import BatchState, open_ledger
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import load
from tests.fakes.databases import rds_secret
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, deploy_flow, undeploy_flow, use_real_connector

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FIELDS = ["Id", "Name", "NumberOfEmployees", "Description", "SystemModstamp"]


def _spec() -> ConnectorSpec:
    return ConnectorSpec.model_validate(
        {
            "name": CONNECTOR,
            "source": {
                "type": "salesforce",
                "secret": "reef/salesforce",
                "objects": [{"name": "Account", "fields": FIELDS}],
            },
            "destination": {
                "type": "postgres",
                "secret": "reef/warehouse",
                "schema": "crm",
                "mode": "merge",
            },
            "schedule": "rate(15 minutes)",
        }
    )


@pytest.fixture
def deployed(standin, postgres_dsn, monkeypatch) -> Iterator[Driver]:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    with mock_aws():
        flow = deploy_flow(monkeypatch, mode="merge")
        use_real_connector(
            flow,
            monkeypatch,
            _spec(),
            {
                "reef/salesforce": standin.password_secret(),
                "reef/warehouse": rds_secret(postgres_dsn),
            },
        )
        driver = Driver(flow)
        yield driver
        driver.close()
        undeploy_flow()


def _warehouse(dsn: str) -> dict[str, tuple]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            'SELECT "Id", "Name", "NumberOfEmployees", "SystemModstamp" FROM crm."Account"'
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _org(org) -> dict[str, tuple]:
    return {
        key: (r["Name"], r["NumberOfEmployees"], r["SystemModstamp"])
        for key, r in org.live("Account").items()
    }


def test_batches_from_the_standin_land_in_postgres_with_edge_updates_and_deletes(
    deployed, org, postgres_dsn
):
    ids = org.insert_many("Account", 2500)

    deployed.tick("2026-01-05T09:07:00Z")
    deployed.run_until_idle()
    assert _warehouse(postgres_dsn) == _org(org)

    org.update("Account", ids[0], {"Name": "edge"}, at=org.now + timedelta(milliseconds=400))
    org.tick(120)
    org.delete("Account", ids[1])
    org.insert("Account", {"Name": "new", "NumberOfEmployees": 7})
    deployed.tick("2026-01-05T09:22:00Z")
    deployed.run_until_idle()

    assert _warehouse(postgres_dsn) == _org(org)
    batches = open_ledger().latest_batches(CONNECTOR, "Account", 2)
    assert [batch.state for batch in batches] == [BatchState.LOADED, BatchState.LOADED]
