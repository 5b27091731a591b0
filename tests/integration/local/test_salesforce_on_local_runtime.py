"""The crm-salesforce flow on the local runtime, through the deployed stacks: its real
scheduler, extract and load functions, polled as Lambda polls their queues, read the
Salesforce stand-in over HTTPS with simple-salesforce and merge into a real PostgreSQL.

The example spec loads into Redshift, and moto's Redshift Data API records statements
without running them, so nothing could compare that warehouse with the org. The test points
the deployed flow at PostgreSQL instead: it rewrites the destination in the connector's
runtime config document, as a deploy of that changed spec would, and names the deployed
destination secret there. Queues, topics, mappings, functions and the source spec stay as
deployed.

One flow run covers, in order: a first batch per object, Account through Bulk API 2.0 (a
job that times out and is retried on two smaller windows, jobs that take several polls,
several result pages, every wait a delayed SQS message) and Contact and Opportunity through
REST; then updates at the exact edge of the first window, deletes (applied for Account and
Contact, flagged for Opportunity) and an expired session, merged by a second batch. The API
budget pause waits 15 minutes in a delayed message, which is too long for a test here; it is
tested on the reader in tests/integration/salesforce.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import psycopg2
import pytest

from generator.local.postgres import PostgresServer
from generator.local.runtime import LocalRuntime, RunSummary
from handlers.bookkeeping import BatchState, Ledger
from handlers.contracts import runtime as contract
from handlers.contracts.spec import ConnectorSpec, PostgresDestination
from tests.fakes.databases import fresh_database, rds_secret
from tests.integration.local.deployed import (
    ACCOUNT,
    REGION,
    DeployedConnector,
    deployed_connector,
    secrets_pointing_at,
    spec_changed,
)
from tests.standins.salesforce import Org, StandIn
from tests.standins.salesforce.fixtures import org, standin, standin_certificate
from tests.standins.salesforce.org import EXPIRED_SESSION, FieldDef

__all__ = ["org", "standin", "standin_certificate"]

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(900),
]

CONNECTOR = "crm-salesforce"
SCHEMA = "crm"
TICKS = (datetime(2026, 1, 5, 10, 0, tzinfo=UTC), datetime(2026, 1, 5, 11, 0, tzinfo=UTC))
ACCOUNTS = 12_000  # above the example's bulk_threshold of 10,000
IDLE_TIMEOUT_SECONDS = 300

COMMON_FIELDS = [
    FieldDef("Id", "id", nillable=False),
    FieldDef("IsDeleted", "boolean", nillable=False),
    FieldDef("CreatedDate", "datetime", nillable=False),
    FieldDef("SystemModstamp", "datetime", nillable=False),
]
CONTACT_FIELDS = [*COMMON_FIELDS, FieldDef("LastName", "string"), FieldDef("Email", "email")]
OPPORTUNITY_FIELDS = [
    *COMMON_FIELDS,
    FieldDef("Name", "string"),
    FieldDef("StageName", "picklist"),
    FieldDef("Amount", "currency"),
]
# per warehouse table, the columns compared with the org (besides Id)
COMPARED = {
    "Account": ("Name", "Industry", "BillingCity", "SystemModstamp"),
    "Contact": ("LastName", "Email", "SystemModstamp"),
    "Opportunity": ("Name", "StageName", "IsDeleted", "SystemModstamp"),
}


@dataclass(frozen=True)
class SalesforceFlow:
    deployed: DeployedConnector
    warehouse: str


@pytest.fixture
def flow(
    local_deployment: Any, postgres_server: PostgresServer, standin: StandIn
) -> Iterator[SalesforceFlow]:
    """The deployed flow over the stand-in and a fresh warehouse; put back as found after."""
    deployed = deployed_connector(local_deployment.endpoint, CONNECTOR)
    environment = deployed.environment
    with fresh_database(postgres_server, "reef_crm_warehouse") as warehouse:
        documents = {
            environment[contract.SOURCE_SECRET_ID]: standin.password_secret(),
            environment[contract.DESTINATION_SECRET_ID]: rds_secret(warehouse),
        }
        with (
            secrets_pointing_at(deployed.client("secretsmanager"), documents),
            spec_changed(deployed, loading_into(environment[contract.DESTINATION_SECRET_ID])),
        ):
            yield SalesforceFlow(deployed, warehouse)


@pytest.fixture
def crm_org(org: Org) -> Org:
    """The org with the three objects of the example spec; Account's job pages are small."""
    org.define("Contact", "003", CONTACT_FIELDS)
    org.define("Opportunity", "006", OPPORTUNITY_FIELDS)
    org.bulk_polls_to_complete = 2
    org.bulk_page_size = 2_500
    return org


def test_salesforce_batches_land_in_postgres_through_the_deployed_flow(
    flow: SalesforceFlow, crm_org: Org
) -> None:
    accounts = seed(crm_org)
    crm_org.bulk_timeout_above = 8_000  # the first window's job times out; its halves do not

    first = run_tick(flow, TICKS[0])

    assert not any(first.errors.values()), first.lines()
    assert warehouse(flow) == in_org(crm_org)
    assert crm_org.calls["bulk_create"] == 3  # the timed-out job, then one per half window
    assert crm_org.calls["bulk_poll"] == 6  # each job polled twice
    assert crm_org.calls["bulk_results"] == 6  # each half of about 6,000 records in 3 pages

    edge = crm_org.now  # the newest SystemModstamp: the first window's upper bound
    crm_org.update("Account", accounts[0], {"Name": "edge"}, at=edge + timedelta(milliseconds=400))
    crm_org.tick(120)
    crm_org.delete("Account", accounts[1])
    crm_org.insert("Account", {"Name": "new", "Industry": "Energy"})
    contact = next(iter(crm_org.live("Contact")))
    crm_org.update("Contact", contact, {"Email": "moved@example.com"})
    crm_org.delete("Contact", next(iter(set(crm_org.live("Contact")) - {contact})))
    crm_org.delete("Opportunity", next(iter(crm_org.live("Opportunity"))))
    crm_org.fail_next("query", EXPIRED_SESSION)
    logins = crm_org.calls["login"]

    second = run_tick(flow, TICKS[1])

    assert not any(second.errors.values()), second.lines()
    assert warehouse(flow) == in_org(crm_org)
    assert crm_org.take_failure("query") is None  # the expired session was met and renewed
    assert crm_org.calls["login"] > logins
    ledger = ledger_of(flow)
    for unit in COMPARED:
        batches = ledger.latest_batches(CONNECTOR, unit, 2)
        assert [batch.state for batch in batches] == [BatchState.LOADED] * 2, unit


def seed(org: Org) -> list[str]:
    """Accounts spread over the hours before the org's clock, a few contacts and deals."""
    start = org.now - timedelta(seconds=ACCOUNTS)
    accounts = [
        org.insert(
            "Account",
            {"Name": f"Account {n}", "Industry": "Retail", "BillingCity": f"City {n % 50}"},
            at=start + timedelta(seconds=n),
        )
        for n in range(ACCOUNTS)
    ]
    for n in range(30):
        org.insert("Contact", {"LastName": f"Contact {n}", "Email": f"c{n}@example.com"})
    for n in range(20):
        org.insert("Opportunity", {"Name": f"Deal {n}", "StageName": "Open", "Amount": n})
    return accounts


def run_tick(flow: SalesforceFlow, tick: datetime) -> RunSummary:
    """Fire the schedule at `tick` on a fresh runtime (cold functions) and run until idle."""
    runtime = LocalRuntime(
        flow.deployed.endpoint,
        REGION,
        ACCOUNT,
        retry_delay_seconds=0,
        only_functions=set(flow.deployed.functions),
    )
    runtime.refresh()
    invocation = runtime.trigger(CONNECTOR, tick)
    assert invocation.ok, invocation.error
    summary = runtime.run_until_idle(IDLE_TIMEOUT_SECONDS)
    assert not any(runtime.dead_letter_counts().values()), runtime.dead_letter_counts()
    return summary


def warehouse(flow: SalesforceFlow) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per table, the compared columns of every row, by Id."""
    found = {}
    with psycopg2.connect(flow.warehouse) as connection, connection.cursor() as cursor:
        for table, columns in COMPARED.items():
            select = ", ".join(f'"{column}"' for column in ("Id", *columns))
            cursor.execute(f'SELECT {select} FROM "{SCHEMA}"."{table}"')
            found[table] = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
    connection.close()
    return found


def in_org(org: Org) -> dict[str, dict[str, tuple[Any, ...]]]:
    """The same as `warehouse` shows it, from the org: live records, and for Opportunity
    (deletes: flag) the deleted ones too, with IsDeleted true."""
    found = {}
    with org.lock:
        for table, columns in COMPARED.items():
            records = org.objects[table].records.values()
            kept = [r for r in records if table == "Opportunity" or not r["IsDeleted"]]
            found[table] = {r["Id"]: tuple(r.get(column) for column in columns) for r in kept}
    return found


def ledger_of(flow: SalesforceFlow) -> Ledger:
    """The flow's book-keeping, read from the emulator."""
    session = boto3.Session(region_name=REGION)
    dynamodb = session.resource("dynamodb", endpoint_url=flow.deployed.endpoint)
    return Ledger(dynamodb.Table(flow.deployed.environment[contract.BOOKKEEPING_TABLE]), ttl_days=1)


def loading_into(secret: str) -> Callable[[ConnectorSpec], ConnectorSpec]:
    """The change of spec that points the flow at a PostgreSQL warehouse behind `secret`."""
    destination = PostgresDestination.model_validate(
        {"type": "postgres", "secret": secret, "schema": SCHEMA, "mode": "merge"}
    )
    return lambda spec: spec.model_copy(update={"destination": destination})
