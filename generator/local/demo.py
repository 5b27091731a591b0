"""`make demo`: sample data and secrets in, the example flows run locally, what moved printed.

Run after `local up` and `deploy --env local`:
    python -m generator.local.demo

It seeds the throwaway PostgreSQL server with a source database per example connector that
can run on this machine, stores the secrets those connectors name in the emulator's Secrets
Manager, puts sample events on the stream, fires each schedule, runs the local runtime until
idle and compares what reached the warehouse with what the sources hold. Exit code 1 when a
flow failed or a count differs.
"""

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import psycopg2
from psycopg2 import sql

from generator.local.errors import LocalError
from generator.local.runtime import LocalRuntime
from generator.local.services import running_state
from generator.local.state import LocalState, local_dir
from generator.specs import load_specs
from handlers.contracts import runtime as contract
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresDestination,
    PostgresSource,
)

WAREHOUSE_DATABASE = "warehouse"
RUN_TIMEOUT_SECONDS = 600
SAMPLE_EVENTS = 20

# Sample rows for the tables of the example PostgreSQL sources, by (schema, table): the
# column definitions and rows. Units not listed here get no data (and are reported so).
SAMPLE_TABLES: dict[tuple[str, str], tuple[str, list[tuple[Any, ...]]]] = {
    ("public", "invoices"): (
        "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2),"
        " updated_at timestamptz NOT NULL",
        [
            (n, f"customer-{n % 7}", n * 10.5, f"2024-05-01T{n % 24:02d}:00:00Z")
            for n in range(1, 51)
        ],
    ),
    ("public", "invoice_lines"): (
        "invoice_id bigint, line_no int, sku text, quantity int, updated_at timestamptz NOT NULL,"
        " PRIMARY KEY (invoice_id, line_no)",
        [(n // 3 + 1, n % 3, f"sku-{n}", n % 5 + 1, "2024-05-01T12:00:00Z") for n in range(120)],
    ),
    ("Legacy Billing", "Credit Notes"): (
        '"Note Id" bigint PRIMARY KEY, "Amount" numeric(12,2), "Reason" text',
        [(n, n * 2.0, "returned goods") for n in range(1, 6)],
    ),
    ("public", "orders"): (
        "id bigint PRIMARY KEY, customer_id bigint, total numeric(12,2),"
        " updated_at timestamptz NOT NULL",
        [(n, n % 9, n * 3.25, "2024-05-01T08:00:00Z") for n in range(1, 31)],
    ),
    ("public", "customers"): (
        "id bigint PRIMARY KEY, name text, updated_at timestamptz NOT NULL",
        [(n, f"customer {n}", "2024-05-01T08:00:00Z") for n in range(9)],
    ),
    ("public", "countries"): (
        "code text PRIMARY KEY, name text",
        [("DE", "Germany"), ("FR", "France"), ("NL", "Netherlands")],
    ),
}


@dataclass
class Moved:
    """One unit of one flow: rows in the source and rows that reached the warehouse."""

    connector: str
    unit: str
    source_rows: int
    warehouse_rows: int

    @property
    def complete(self) -> bool:
        return self.source_rows == self.warehouse_rows


def runnable_here(spec: ConnectorSpec) -> bool:
    """Flows the local environment can run: PostgreSQL or Kinesis into PostgreSQL.

    Salesforce and Redshift have no local stand-in, so their flows are deployed but not run.
    """
    return isinstance(spec.source, PostgresSource | KinesisSource) and isinstance(
        spec.destination, PostgresDestination
    )


def source_database(connector: str) -> str:
    return connector.replace("-", "_")


def seed(state: LocalState, specs: dict[str, ConnectorSpec]) -> None:
    """Create the databases, sample rows and secrets of the example connectors (idempotent)."""
    secrets = boto3.Session(region_name=state.region).client(
        "secretsmanager", endpoint_url=state.emulator.endpoint
    )
    _create_database(state, WAREHOUSE_DATABASE)
    for spec in specs.values():
        if isinstance(spec.source, PostgresSource):
            database = source_database(spec.name)
            _create_database(state, database)
            _seed_tables(state, database, spec.source)
            _put_secret(secrets, spec.source.secret, _rds_secret(state, database))
        if isinstance(spec.destination, PostgresDestination):
            _put_secret(secrets, spec.destination.secret, _rds_secret(state, WAREHOUSE_DATABASE))


def put_sample_events(runtime: LocalRuntime, specs: dict[str, ConnectorSpec]) -> dict[str, int]:
    """Put sample events on each stream source's stream; the number put per connector."""
    put = {}
    for name, spec in specs.items():
        if not isinstance(spec.source, KinesisSource) or not runnable_here(spec):
            continue
        functions = {
            f.name
            for f in runtime.wiring.functions.values()
            if f.environment.get(contract.CONNECTOR) == name
        }
        mappings = [m for m in runtime.wiring.stream_mappings if m.function_name in functions]
        if not mappings:
            continue
        occurred = datetime.now(UTC)
        for n in range(SAMPLE_EVENTS):
            record = {
                "event_id": f"demo-{n}",
                "occurred_at": occurred.isoformat(),
                "user_id": n % 4,
                "kind": "page_view",
                "payload": {"path": f"/p/{n}"},
            }
            runtime.kinesis.put_record(
                StreamARN=mappings[0].stream_arn,
                Data=json.dumps(record).encode(),
                PartitionKey=str(n % 4),
            )
        put[name] = SAMPLE_EVENTS
    return put


def what_moved(
    state: LocalState, specs: dict[str, ConnectorSpec], events_put: dict[str, int]
) -> list[Moved]:
    """Rows per unit in the source and in the warehouse, for the flows run here."""
    moved = []
    for name, spec in sorted(specs.items()):
        if not runnable_here(spec):
            continue
        destination_schema = spec.destination.schema_
        if isinstance(spec.source, PostgresSource):
            for table in spec.source.tables:
                source = _count(state, source_database(name), table.schema_, table.table)
                target = _count(state, WAREHOUSE_DATABASE, destination_schema, table.unit)
                moved.append(Moved(name, table.unit, source, target))
        elif isinstance(spec.source, KinesisSource):
            unit = spec.source.table.name
            target = _count(state, WAREHOUSE_DATABASE, destination_schema, unit)
            moved.append(Moved(name, unit, events_put.get(name, 0), target))
    return moved


def main() -> int:
    """Seed, trigger, run to idle and report; 0 when every runnable flow moved every row."""
    try:
        state = running_state()
        # what `python main.py local env` exports: the emulator and its test credentials
        os.environ.update(state.aws_variables())
        specs = load_specs()
        seed(state, specs)
        runtime = LocalRuntime(
            state.emulator.endpoint,
            state.region,
            state.account,
            checkpoint_path=local_dir() / "kinesis-checkpoints.json",
        )
        runtime.refresh()
        dead_before = runtime.dead_letter_counts()
        events_put = put_sample_events(runtime, specs)
        # the stream functions land the events before the schedules close their timelabels
        runtime.run_until_idle(RUN_TIMEOUT_SECONDS)
        failed = _trigger_all(runtime, specs)
        runtime.run_until_idle(RUN_TIMEOUT_SECONDS)
    except LocalError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1

    moved = what_moved(state, specs, events_put)
    dead = {
        q: n - dead_before.get(q, 0)
        for q, n in runtime.dead_letter_counts().items()
        if n > dead_before.get(q, 0)
    }
    _print_report(runtime, moved, dead, failed)
    ok = (
        not failed
        and not dead
        and not runtime.summary.discarded_records
        and all(m.complete for m in moved)
    )
    return 0 if ok else 1


def _trigger_all(runtime: LocalRuntime, specs: dict[str, ConnectorSpec]) -> list[str]:
    failed = []
    for name, spec in sorted(specs.items()):
        if not runnable_here(spec):
            print(
                f"{name}: deployed, not run here ({spec.source.type} into"
                f" {spec.destination.type} has no local stand-in)"
            )
            continue
        invocation = runtime.trigger(name, _tick_time(spec))
        if not invocation.ok:
            failed.append(f"{name}: {invocation.error}")
    return failed


def _tick_time(spec: ConnectorSpec) -> datetime | None:
    """Now, except for a stream source: the tick that closes the timelabel of now.

    A stream's timelabel closes one schedule period plus the lateness bound after it starts;
    the demo fast-forwards its tick there rather than wait up to ten minutes.
    """
    if not isinstance(spec.source, KinesisSource):
        return None
    schedule = parse_schedule(spec.schedule)
    closing = timedelta(
        seconds=(schedule.period_seconds or 60) + spec.source.table.lateness_seconds
    )
    tick = schedule.timelabel(datetime.now(UTC)) + closing
    print(f"{spec.name}: closing its timelabels as the tick at {tick:%H:%M} UTC will")
    return tick


def _print_report(
    runtime: LocalRuntime, moved: list[Moved], dead: dict[str, int], failed: list[str]
) -> None:
    print("\nfunction calls")
    for line in runtime.summary.lines():
        print(f"  {line}")
    print("\nwhat moved (source rows -> warehouse rows)")
    for row in moved:
        mark = "ok" if row.complete else "MISSING"
        print(
            f"  {row.connector:<18} {row.unit:<16} {row.source_rows:>6} -> "
            f"{row.warehouse_rows:<6} {mark}"
        )
    for queue, count in dead.items():
        print(f"  dead-lettered: {count} message(s) in {queue}")
    if runtime.summary.discarded_records:
        print(f"  stream records discarded: {runtime.summary.discarded_records}")
    for failure in failed:
        print(f"  schedule failed: {failure}")


def _connect(state: LocalState, database: str) -> Any:
    connection = psycopg2.connect(
        host="127.0.0.1", port=state.postgres.port, user="reef", dbname=database
    )
    connection.autocommit = True
    return connection


def _create_database(state: LocalState, database: str) -> None:
    admin = _connect(state, "postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        admin.close()


def _seed_tables(state: LocalState, database: str, source: PostgresSource) -> None:
    connection = _connect(state, database)
    with connection.cursor() as cursor:
        for table in source.tables:
            sample = SAMPLE_TABLES.get((table.schema_, table.table))
            if sample is None:
                continue
            columns, rows = sample
            name = sql.Identifier(table.schema_, table.table)
            cursor.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema_))
            )
            cursor.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + columns + ")").format(name))
            for row in rows:
                cursor.execute(
                    sql.SQL("INSERT INTO {} VALUES ({}) ON CONFLICT DO NOTHING").format(
                        name, sql.SQL(", ").join(sql.Placeholder() * len(row))
                    ),
                    row,
                )
    connection.close()


def _count(state: LocalState, database: str, schema: str, table: str) -> int:
    connection = _connect(state, database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regclass(%s)", (sql.Identifier(schema, table).as_string(connection),)
            )
            row = cursor.fetchone()
            if row is None or row[0] is None:
                return 0
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
            counted = cursor.fetchone()
            return int(counted[0]) if counted else 0
    finally:
        connection.close()


def _rds_secret(state: LocalState, database: str) -> str:
    # the JSON shape of RDS credentials (ARCHITECTURE 3); trust authentication, no password
    return json.dumps(
        {
            "engine": "postgres",
            "host": "127.0.0.1",
            "port": state.postgres.port,
            "username": "reef",
            "password": "",
            "dbname": database,
        }
    )


def _put_secret(secrets: Any, name: str, value: str) -> None:
    try:
        secrets.put_secret_value(SecretId=name, SecretString=value)
    except secrets.exceptions.ResourceNotFoundException:
        secrets.create_secret(Name=name, SecretString=value)


if __name__ == "__main__":
    sys.exit(main())
