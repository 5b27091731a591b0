"""Salesforce to PostgreSQL through the real runtime: scheduler, extract and load handlers in
moto, driven like Lambda's pollers; the source is the stand-in, the warehouse a real server.
Secrets are read from Secrets Manager (moto), as deployed functions read them."""

import json
from collections.abc import Iterator
from datetime import timedelta

import boto3
import psycopg2
import pytest
from moto import mock_aws

from handlers import config as handler_config
from handlers.bookkeeping import BatchState, open_ledger
from handlers.contracts import runtime
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import load, services
from handlers.sources import register_source
from handlers.warehouses import register_warehouse
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, FUNCTION_TIMEOUT_SECONDS, deploy_flow, undeploy_flow

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
        bucket = flow.environment[runtime.CONFIG_BUCKET]
        document = RuntimeConfig(
            environment="test",
            connector=_spec(),
            schedule="rate(15 minutes)",
            function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
            staging_expiry_days=7,
            bookkeeping_ttl_days=90,
            redshift_slices=2,
        )
        boto3.client("s3").put_object(
            Bucket=bucket,
            Key=flow.environment[runtime.CONFIG_KEY],
            Body=document.model_dump_json(by_alias=True).encode(),
        )
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(
            Name="reef/salesforce", SecretString=json.dumps(standin.password_secret())
        )
        options = dict(part.split("=", 1) for part in postgres_dsn.split())
        warehouse_secret = {
            "engine": "postgres",
            "host": options["host"],
            "port": int(options["port"]),
            "username": options["user"],
            "password": options.get("password", ""),
            "dbname": options["dbname"],
        }
        secrets.create_secret(Name="reef/warehouse", SecretString=json.dumps(warehouse_secret))
        monkeypatch.setenv(runtime.SOURCE_SECRET_ID, "reef/salesforce")
        monkeypatch.setenv(runtime.DESTINATION_SECRET_ID, "reef/warehouse")
        # the real packages, not the fakes deploy_flow registered
        register_source("postgres", None)
        register_warehouse("postgres", None)
        services.reset()
        handler_config.reset()
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
