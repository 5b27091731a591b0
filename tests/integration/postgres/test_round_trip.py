"""Rows go from a real PostgreSQL source through gzip CSV files into a real PostgreSQL warehouse
and come out unchanged, for every type the issue names, through initial and incremental loads."""

from collections.abc import Iterator
from typing import Any

import pytest

from handlers.contracts.batch import Bounds
from handlers.contracts.spec import PostgresTable
from handlers.errors import TerminalError
from handlers.sources.postgres import PostgresSource
from handlers.warehouses.postgres import PostgresWarehouse
from tests.fakes.databases import rds_secret
from tests.integration.postgres.conftest import (
    destination_spec,
    execute,
    extract,
    fetch,
    load,
    source_spec,
)

pytestmark = pytest.mark.postgres

CREATE_TABLE = """
CREATE SCHEMA "Sales Data";
CREATE TABLE "Sales Data"."Order Lines" (
    "Order Id" bigint NOT NULL,
    "line" integer NOT NULL,
    "select" text,
    "Note, with comma" character varying(2000000),
    amount numeric(38,18),
    unbounded numeric,
    small smallint,
    medium integer,
    large bigint,
    ratio double precision,
    flag boolean,
    day date,
    moment timestamp without time zone,
    instant timestamp with time zone,
    span interval,
    ident uuid,
    doc json,
    docb jsonb,
    blob bytea,
    tags text[],
    numbers integer[],
    deleted boolean NOT NULL DEFAULT false,
    "Updated At" timestamp with time zone NOT NULL,
    PRIMARY KEY ("Order Id", "line")
)
"""

TRICKY_ROWS: list[tuple[Any, ...]] = [
    # (order id, line, select, note, amount, unbounded, small, medium, large, ratio, flag, day,
    #  moment, instant, span, ident, doc, docb, blob, tags, numbers)
    (
        1,
        1,
        None,
        "",
        "12345678901234567890.123456789012345678",
        "3.14159265358979323846264338327950288419716939937510582097494459",
        -32768,
        -2147483648,
        -9223372036854775808,
        1.7976931348623157e308,
        True,
        "2024-02-29",
        "2024-02-29 23:59:59.999999",
        "2024-03-31 02:30:00+05:45",
        "1 year 2 mons 3 days 04:05:06.789",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        '{"b": 1,  "a": [1, 2]}',
        '{"b": 1, "a": {"nested": null}}',
        bytes(range(256)),
        ["a,b", 'say "hi"', None, ""],
        [1, None, -3],
    ),
    (
        1,
        2,
        "",
        None,
        "-0.000000000000000001",
        "0",
        32767,
        2147483647,
        9223372036854775807,
        -0.0,
        False,
        "0001-01-01",
        "1999-12-31 00:00:00",
        "1970-01-01 00:00:00+00",
        "-1 days +23:59:59",
        "00000000-0000-0000-0000-000000000000",
        "[]",
        "[]",
        b"",
        [],
        [],
    ),
    (
        2,
        1,
        'comma, "quote", tab\there, new\nline, cr\r\nback\\slash \\N NULL',
        "héllo wörld ✓ 日本語 🎉",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ),
    (
        2,
        2,
        "\\.",
        "x" * 1_000_000,
        "99999999999999999999.999999999999999999",
        "1e-30",
        0,
        0,
        0,
        3.141592653589793,
        True,
        "9999-12-31",
        "2000-01-01 12:00:00.5",
        "2262-04-11 23:47:16.854775+00",
        "00:00:00",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        '"a string"',
        '{"key": "val\\"ue\\n"}',
        b'\x00\\x00,\n"',
        ["{braces}", "back\\slash"],
        [2147483647],
    ),
]

COLUMNS = (
    '"Order Id", "line", "select", "Note, with comma", amount, unbounded, small, medium, large,'
    " ratio, flag, day, moment, instant, span, ident, doc, docb, blob, tags, numbers"
)

TABLE = PostgresTable.model_validate(
    {
        "schema": "Sales Data",
        "table": "Order Lines",
        "primary_key": ["Order Id", "line"],
        "cursor": "Updated At",
        "chunk_rows": 1000,
    }
)


def seed(dsn: str, plain_rows: int = 2500) -> None:
    """The tricky rows, then plain ones (by default enough for several chunks)."""
    execute(dsn, CREATE_TABLE)
    placeholders = ", ".join(["%s"] * len(TRICKY_ROWS[0]))
    for row in TRICKY_ROWS:
        execute(
            dsn,
            f'INSERT INTO "Sales Data"."Order Lines" ({COLUMNS}, "Updated At")'
            f" VALUES ({placeholders}, '2026-01-01 00:00:00+00')",
            row,
        )
    execute(
        dsn,
        'INSERT INTO "Sales Data"."Order Lines" ("Order Id", line, "select", amount, "Updated At")'
        " SELECT 100 + n / 3, n %% 3, 'row ' || n, n * 1.5,"
        " '2026-01-01 00:00:00+00'::timestamptz + (n %% 7) * interval '1 second'"
        " FROM generate_series(1, %s) AS n",
        (plain_rows,),
    )


def as_text(dsn: str, schema: str, table: str) -> list[tuple[Any, ...]]:
    """Every row with every column cast to text (NULL stays None), in key order."""
    columns = [row[0] for row in fetch(dsn, _COLUMN_NAMES, (schema, table))]
    select = ", ".join(f'"{name}"::text' for name in columns)
    return fetch(dsn, f'SELECT {select} FROM "{schema}"."{table}" ORDER BY 1, 2')


_COLUMN_NAMES = (
    "SELECT column_name FROM information_schema.columns"
    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)


@pytest.fixture
def source(postgres_dsn: str) -> Iterator[PostgresSource]:
    seed(postgres_dsn)
    opened = PostgresSource(source_spec(TABLE), rds_secret(postgres_dsn))
    yield opened
    opened.close()


@pytest.fixture
def warehouse(warehouse_dsn: str) -> Iterator[PostgresWarehouse]:
    opened = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))
    yield opened
    opened.close()


def test_every_type_survives_the_initial_load_unchanged(
    source: PostgresSource, warehouse: PostgresWarehouse, postgres_dsn: str, warehouse_dsn: str
) -> None:
    batch = extract(source, TABLE, source.bounds(TABLE.unit, None))

    loaded = load(warehouse, batch)

    assert loaded.rows == len(TRICKY_ROWS) + 2500
    assert len(batch.files) == 3  # 2504 rows in chunks of 1000
    assert as_text(warehouse_dsn, "Ware House", "Order Lines") == as_text(
        postgres_dsn, "Sales Data", "Order Lines"
    )


def test_the_warehouse_table_gets_the_source_types(
    source: PostgresSource, warehouse: PostgresWarehouse, postgres_dsn: str, warehouse_dsn: str
) -> None:
    load(warehouse, extract(source, TABLE, source.bounds(TABLE.unit, None)))

    types = (
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 ORDER BY a.attnum"
    )
    source_types = fetch(postgres_dsn, types, ('"Sales Data"."Order Lines"',))
    assert fetch(warehouse_dsn, types, ('"Ware House"."Order Lines"',)) == source_types


def test_a_second_incremental_batch_merges_inserts_updates_and_soft_deletes(
    source: PostgresSource, warehouse: PostgresWarehouse, postgres_dsn: str, warehouse_dsn: str
) -> None:
    first = source.bounds(TABLE.unit, None)
    load(warehouse, extract(source, TABLE, first))
    execute(
        postgres_dsn,
        'INSERT INTO "Sales Data"."Order Lines" ("Order Id", line, "select", "Updated At")'
        " VALUES (5000, 1, 'new', '2026-01-02'), (5000, 2, NULL, '2026-01-02')",
    )
    execute(
        postgres_dsn,
        'UPDATE "Sales Data"."Order Lines" SET "select" = \'changed, "again"\','
        ' "Updated At" = \'2026-01-02 00:00:01+00\' WHERE "Order Id" IN (1, 150)',
    )
    execute(
        postgres_dsn,
        'UPDATE "Sales Data"."Order Lines" SET deleted = true,'
        ' "Updated At" = \'2026-01-02 00:00:02+00\' WHERE "Order Id" = 2',
    )

    second = source.bounds(TABLE.unit, first.upper)
    batch = extract(source, TABLE, second, timelabel="2026-01-02T00:00")
    loaded = load(warehouse, batch)

    assert second.lower == first.upper
    assert loaded.rows == 2 + 2 + 3 + 2  # inserted, order 1, order 150, order 2
    assert as_text(warehouse_dsn, "Ware House", "Order Lines") == as_text(
        postgres_dsn, "Sales Data", "Order Lines"
    )


def test_an_unchanged_source_gives_an_empty_second_batch(
    source: PostgresSource, warehouse: PostgresWarehouse
) -> None:
    first = source.bounds(TABLE.unit, None)
    load(warehouse, extract(source, TABLE, first))

    second = source.bounds(TABLE.unit, first.upper)
    batch = extract(source, TABLE, second)

    assert second.upper == first.upper
    assert batch.manifest.rows == 0
    assert load(warehouse, batch).rows == 0


def test_the_same_batch_loaded_twice_is_loaded_once(
    source: PostgresSource, warehouse: PostgresWarehouse, warehouse_dsn: str
) -> None:
    batch = extract(source, TABLE, source.bounds(TABLE.unit, None))

    first = load(warehouse, batch)
    again = load(warehouse, batch)

    assert (first.already, again.already) == (False, True)
    assert again.rows == first.rows
    assert fetch(warehouse_dsn, 'SELECT count(*) FROM "Ware House"."Order Lines"') == [
        (first.rows,)
    ]
    log = fetch(warehouse_dsn, 'SELECT batch_id, unit, rows FROM "Ware House"._reef_load_log')
    assert log == [(batch.manifest.batch_id, "Order Lines", first.rows)]


def test_a_changed_column_type_fails_the_batch_naming_table_column_and_types(
    source: PostgresSource, warehouse: PostgresWarehouse, postgres_dsn: str, warehouse_dsn: str
) -> None:
    load(warehouse, extract(source, TABLE, source.bounds(TABLE.unit, None)))
    execute(postgres_dsn, 'ALTER TABLE "Sales Data"."Order Lines" ALTER COLUMN small TYPE text')
    batch = extract(source, TABLE, Bounds())

    with pytest.raises(TerminalError) as failure:
        load(warehouse, batch)

    message = str(failure.value)
    assert "'small'" in message and "Ware House.Order Lines" in message
    assert "smallint" in message and "text" in message
    log = fetch(warehouse_dsn, 'SELECT count(*) FROM "Ware House"._reef_load_log')
    assert log == [(1,)]  # the failed batch left nothing behind


def test_a_new_source_column_is_added_to_the_warehouse_table(
    source: PostgresSource, warehouse: PostgresWarehouse, postgres_dsn: str, warehouse_dsn: str
) -> None:
    first = source.bounds(TABLE.unit, None)
    load(warehouse, extract(source, TABLE, first))
    execute(
        postgres_dsn,
        'ALTER TABLE "Sales Data"."Order Lines" ADD COLUMN "Discount %" numeric(5,2);'
        ' UPDATE "Sales Data"."Order Lines" SET "Discount %" = 12.5,'
        ' "Updated At" = \'2026-01-03\' WHERE "Order Id" = 1',
    )

    load(warehouse, extract(source, TABLE, source.bounds(TABLE.unit, first.upper)))

    assert as_text(warehouse_dsn, "Ware House", "Order Lines") == as_text(
        postgres_dsn, "Sales Data", "Order Lines"
    )
