"""The billing-replica flow as deployed in the test emulator, with real PostgreSQL at both ends.

The fault tests on the local runtime use it: it finds the flow's queues, bucket and
book-keeping table in the deployed wiring, points the flow's secrets at two databases of the
test server, lowers `chunk_rows` in the deployed runtime config document so that a small
table needs several chunks, and resets everything the flow wrote between scenarios. It puts
back what it changed in the shared deployment when closed.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import psycopg2
from boto3.dynamodb.conditions import Attr

from generator.local.postgres import PostgresServer
from generator.local.runtime.wiring import Wiring
from handlers.contracts import runtime as contract
from handlers.contracts.spec import ConnectorSpec, PostgresSource
from tests.fakes.databases import fresh_database, rds_secret
from tests.integration.local.deployed import (
    REGION,
    deployed_connector,
    secrets_pointing_at,
    spec_changed,
)

CONNECTOR = "billing-replica"
WAREHOUSE_SCHEMA = "billing"
CHUNK_ROWS = 1000  # the spec's minimum
# rows by (schema, table): invoices needs three chunks of CHUNK_ROWS, the others one each
INVOICES = 2500
INVOICE_LINES = 300
CREDIT_NOTES = 20

# (schema, table, warehouse table, key columns, column definitions)
TABLES = (
    (
        "public",
        "invoices",
        "invoices",
        ("id",),
        "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2),"
        " updated_at timestamptz NOT NULL",
    ),
    (
        "public",
        "invoice_lines",
        "invoice_lines",
        ("invoice_id", "line_no"),
        "invoice_id bigint, line_no int, sku text, quantity int, updated_at timestamptz NOT NULL,"
        " PRIMARY KEY (invoice_id, line_no)",
    ),
    (
        "Legacy Billing",
        "Credit Notes",
        "credit_notes",
        ("Note Id",),
        '"Note Id" bigint PRIMARY KEY, "Amount" numeric(12,2), "Reason" text',
    ),
)


@dataclass
class BillingFlow:
    """Handles on the deployed flow and its two databases."""

    endpoint: str
    wiring: Wiring
    source_dsn: str
    warehouse_dsn: str
    functions: set[str] = field(default_factory=set)
    environment: dict[str, str] = field(default_factory=dict)
    queues: list[str] = field(default_factory=list)  # work queues and their dead-letter queues
    dead_letter_queues: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.Session(region_name=REGION).client(service, endpoint_url=self.endpoint)

    # --- the source and the warehouse -------------------------------------------------------

    def seed_source(self) -> None:
        """Drop and create the source tables with their first rows."""
        statements = []
        for schema, table, _, _, columns in TABLES:
            statements += [
                f'DROP SCHEMA IF EXISTS "{schema}" CASCADE' if schema != "public" else "",
                f'DROP TABLE IF EXISTS "{schema}"."{table}"',
                f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
                f'CREATE TABLE "{schema}"."{table}" ({columns})',
            ]
        statements += [
            "INSERT INTO public.invoices SELECT n, 'customer-' || n % 7, n * 10.5,"
            " timestamptz '2024-05-01 00:00:00+00' + n * interval '1 second'"
            f" FROM generate_series(1, {INVOICES}) AS n",
            "INSERT INTO public.invoice_lines SELECT n / 3 + 1, n % 3, 'sku-' || n, n % 5 + 1,"
            " timestamptz '2024-05-01 12:00:00+00' + n * interval '1 second'"
            f" FROM generate_series(0, {INVOICE_LINES - 1}) AS n",
            'INSERT INTO "Legacy Billing"."Credit Notes" SELECT n, n * 2.0, \'returned goods\''
            f" FROM generate_series(1, {CREDIT_NOTES}) AS n",
        ]
        _execute(self.source_dsn, [s for s in statements if s])

    def change_source(self) -> None:
        """Inserts and updates after the first batch, with cursors past its watermark."""
        _execute(
            self.source_dsn,
            [
                "INSERT INTO public.invoices SELECT n, 'new customer', n * 1.25,"
                " timestamptz '2024-06-01 00:00:00+00' + n * interval '1 second'"
                f" FROM generate_series({INVOICES + 1}, {INVOICES + 40}) AS n",
                "UPDATE public.invoices SET customer = 'changed, \"quoted\"', amount = amount + 1,"
                " updated_at = timestamptz '2024-06-02 00:00:00+00' + id * interval '1 second'"
                " WHERE id % 100 = 7",
                "INSERT INTO public.invoice_lines VALUES (5000, 0, 'sku-new', 3,"
                " '2024-06-01 00:00:00+00'), (5000, 1, NULL, NULL, '2024-06-01 00:00:00+00')",
                "UPDATE public.invoice_lines SET quantity = quantity * 10,"
                " updated_at = '2024-06-03 00:00:00+00' WHERE invoice_id IN (1, 50)",
                'INSERT INTO "Legacy Billing"."Credit Notes" VALUES (1000, 1.5, \'tab\there\')',
                'UPDATE "Legacy Billing"."Credit Notes" SET "Reason" = \'damaged\''
                ' WHERE "Note Id" = 3',
            ],
        )

    def differences(self) -> list[str]:
        """How the warehouse differs from the source, table by table; empty when equal."""
        found = []
        for schema, table, target, keys, _ in TABLES:
            columns = [row[0] for row in _fetch(self.source_dsn, _COLUMNS, (schema, table))]
            source = _rows(self.source_dsn, schema, table, columns, keys)
            warehouse = _rows(self.warehouse_dsn, WAREHOUSE_SCHEMA, target, columns, keys)
            if warehouse != source:
                missing = len(set(source) - set(warehouse))
                extra = len(warehouse) - len(set(warehouse))
                found.append(
                    f"{target}: source {len(source)} rows, warehouse {len(warehouse)}"
                    f" ({missing} missing or different, {extra} doubled)"
                )
        return found

    # --- the deployed flow ----------------------------------------------------------------

    def reset(self) -> None:
        """Forget every batch: book-keeping items, queued messages, staged files, the
        warehouse schema; and seed the source again."""
        table = (
            boto3.Session(region_name=REGION)
            .resource("dynamodb", endpoint_url=self.endpoint)
            .Table(self.environment[contract.BOOKKEEPING_TABLE])
        )
        key = [contract.BOOKKEEPING_PARTITION_KEY, contract.BOOKKEEPING_SORT_KEY]
        scan: dict[str, Any] = {
            "FilterExpression": Attr(contract.BOOKKEEPING_PARTITION_KEY).begins_with(
                f"{CONNECTOR}#"
            ),
            "ProjectionExpression": ", ".join(f"#{n}" for n in range(len(key))),
            "ExpressionAttributeNames": {f"#{n}": name for n, name in enumerate(key)},
        }
        with table.batch_writer() as batch:
            while True:
                page = table.scan(**scan)
                for item in page["Items"]:
                    batch.delete_item(Key=item)
                if "LastEvaluatedKey" not in page:
                    break
                scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self._drain_queues()
        s3 = self.client("s3")
        bucket = self.environment[contract.STAGING_BUCKET]
        prefix = f"{contract.STAGING_PREFIX}/{CONNECTOR}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        _execute(self.warehouse_dsn, [f'DROP SCHEMA IF EXISTS "{WAREHOUSE_SCHEMA}" CASCADE'])
        self.seed_source()

    def _drain_queues(self, timeout_seconds: float = 60) -> None:
        # PurgeQueue is allowed once a minute per queue (moto enforces it too), so messages
        # are received and deleted; in-flight and delayed ones are waited for
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout_seconds
        for url in self.queues:
            while True:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if messages:
                    continue
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed",
                    ],
                )["Attributes"]
                if not any(int(value) for value in attributes.values()):
                    break
                assert time.monotonic() < deadline, f"{url} did not drain: {attributes}"
                time.sleep(0.5)

    def dead_lettered(self) -> int:
        sqs = self.client("sqs")
        total = 0
        for url in self.dead_letter_queues:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            total += sum(int(value) for value in attributes.values())
        return total


@contextmanager
def billing_flow(endpoint: str, server: PostgresServer) -> Iterator[BillingFlow]:
    """The deployed billing-replica flow over two fresh databases; put back as found after."""
    deployed = deployed_connector(endpoint, CONNECTOR)
    with (
        fresh_database(server, "reef_billing_source") as source,
        fresh_database(server, "reef_billing_warehouse") as warehouse,
    ):
        environment = deployed.environment
        flow = BillingFlow(
            endpoint, deployed.wiring, source, warehouse, set(deployed.functions), environment
        )
        for mapping in deployed.wiring.queue_mappings:
            if mapping.function_name in deployed.functions:
                flow.queues.append(mapping.queue_url)
        for function in deployed.functions.values():
            dead_letter = function.environment.get(contract.DEAD_LETTER_QUEUE_URL)
            if dead_letter:
                flow.dead_letter_queues.append(dead_letter)
        flow.queues += flow.dead_letter_queues
        secrets = {
            environment[contract.SOURCE_SECRET_ID]: rds_secret(source),
            environment[contract.DESTINATION_SECRET_ID]: rds_secret(warehouse),
        }
        with (
            secrets_pointing_at(flow.client("secretsmanager"), secrets),
            spec_changed(deployed, _small_chunks),
        ):
            try:
                yield flow
            finally:
                flow.reset()


def _small_chunks(spec: ConnectorSpec) -> ConnectorSpec:
    # the deployed spec keeps the default chunk_rows (100,000); the minimum makes a few
    # thousand rows take several chunks, as a large table would
    source = spec.source
    assert isinstance(source, PostgresSource)
    tables = [table.model_copy(update={"chunk_rows": CHUNK_ROWS}) for table in source.tables]
    return spec.model_copy(update={"source": source.model_copy(update={"tables": tables})})


def _execute(dsn: str, statements: list[str]) -> None:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def _fetch(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    connection.close()
    return rows


def _rows(
    dsn: str, schema: str, table: str, columns: list[str], keys: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    # every column as text (NULL stays None), in key order; the warehouse's own bookkeeping
    # columns, if any, are left out by selecting the source's columns only
    if not _fetch(dsn, "SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))[0][0]:
        return []
    select = ", ".join(f'"{name}"::text' for name in columns)
    order = ", ".join(f'"{name}"' for name in keys)
    return _fetch(dsn, f'SELECT {select} FROM "{schema}"."{table}" ORDER BY {order}')


_COLUMNS = (
    "SELECT column_name FROM information_schema.columns"
    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)
