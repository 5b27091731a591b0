"""The load transaction's plain SQL (merge, append, replace, deleted keys, load log) run on a
real PostgreSQL: it leaves the latest version of each key, no deleted key, and one load log row.

Only COPY is Redshift's own; here each COPY is replaced by PostgreSQL's COPY of the same CSV.
"""

import io
from typing import Any

import psycopg2
import pytest

from handlers.contracts.batch import Column
from handlers.warehouses.redshift import statements
from handlers.warehouses.redshift.types import RedshiftType, redshift_type

pytestmark = pytest.mark.postgres

COLUMNS = [
    Column(name="Order Id", type="bigint", source_type="postgres", nullable=False),
    Column(name="note", type="character varying(10)", source_type="postgres"),
    Column(name="updated_at", type="timestamp with time zone", source_type="postgres"),
]
KEY = ["Order Id"]


def _plan(
    batch_id: str,
    mode: str,
    rows: int,
    *,
    create: bool,
    deleted: bool = False,
    dedup_key: list[str] | None = None,
) -> Any:
    return statements.LoadPlan(
        schema="Shop Data",
        table="order",
        mode=mode,
        batch=statements.BatchIdentity("shop-orders", "order", "2024-05-01T12:00:00Z", batch_id),
        columns=[(c.name, redshift_type(c)) for c in COLUMNS],
        primary_key=KEY,
        cursor="updated_at",
        rows=rows,
        loaded_at="2024-05-01T12:05:00+00:00",
        role_arn="arn:aws:iam::123456789012:role/copy",
        truncate=False,
        create=create,
        manifest_url="s3://bucket/data/redshift.manifest",
        deleted_manifest_url="s3://bucket/data/redshift-deleted.manifest" if deleted else None,
        dedup_key=dedup_key or [],
    )


def _run(dsn: str, plan: Any, data: str, deleted: str = "") -> None:
    """One load transaction on PostgreSQL, COPY read from the given CSV text instead of S3."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        for sql in statements.load_transaction(plan):
            if sql.startswith("COPY"):
                target = sql.split(" FROM ", 1)[0]
                text = deleted if '"_reef_deleted"' in target else data
                cursor.copy_expert(f"{target} FROM STDIN WITH (FORMAT csv)", io.StringIO(text))
            else:
                cursor.execute(sql)
        # the temporary staging tables belong to this session, as to a Data API session


def _rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            """SELECT "Order Id", "note", to_char("updated_at" AT TIME ZONE 'UTC', 'HH24:MI')"""
            ' FROM "Shop Data"."order" ORDER BY 1'
        )
        return list(cursor.fetchall())


def _log(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            'SELECT "batch_id", "row_count" FROM "Shop Data"."_reef_load_log" ORDER BY 1'
        )
        return list(cursor.fetchall())


def test_the_merge_keeps_the_latest_version_of_each_key_and_logs_the_batch(
    postgres_dsn: str,
) -> None:
    first = "1,one,2024-05-01 10:00+00\n2,two,2024-05-01 10:00+00\n3,three,2024-05-01 10:00+00\n"
    _run(postgres_dsn, _plan("b-1", "merge", 3, create=True), first)
    # key 1 twice (the later version wins), key 2 in an older version than the table's (kept),
    # key 3 deleted at the source, key 4 new with an empty string, key 5 with a NULL note
    second = (
        "1,old,2024-05-01 11:00+00\n1,new,2024-05-01 11:30+00\n2,stale,2024-05-01 09:00+00\n"
        '4,"",2024-05-01 11:00+00\n5,,2024-05-01 11:00+00\n'
    )
    _run(postgres_dsn, _plan("b-2", "merge", 5, create=False, deleted=True), second, "3\n")

    assert _rows(postgres_dsn) == [
        (1, "new", "11:30"),
        (2, "two", "10:00"),
        (4, "", "11:00"),
        (5, None, "11:00"),
    ]
    assert _log(postgres_dsn) == [("b-1", 3), ("b-2", 5)]


def test_a_batch_already_in_the_load_log_changes_nothing_when_loaded_again(
    postgres_dsn: str,
) -> None:
    data = "1,one,2024-05-01 10:00+00\n"
    _run(postgres_dsn, _plan("b-1", "merge", 1, create=True), data)
    _run(postgres_dsn, _plan("b-1", "merge", 1, create=False), "1,changed,2024-05-01 12:00+00\n")
    _run(postgres_dsn, _plan("b-1", "append", 1, create=False), data)

    assert _rows(postgres_dsn) == [(1, "one", "10:00")]
    assert _log(postgres_dsn) == [("b-1", 1)]


def test_append_adds_every_row_and_replace_leaves_only_the_batch(postgres_dsn: str) -> None:
    _run(postgres_dsn, _plan("b-1", "append", 1, create=True), "1,one,2024-05-01 10:00+00\n")
    _run(postgres_dsn, _plan("b-2", "append", 1, create=False), "1,again,2024-05-01 11:00+00\n")
    assert sorted(row[1] for row in _rows(postgres_dsn)) == ["again", "one"]

    snapshot = "7,a,2024-05-01 12:00+00\n8,b,2024-05-01 12:00+00\n"
    _run(postgres_dsn, _plan("b-3", "replace", 2, create=False), snapshot)
    assert _rows(postgres_dsn) == [(7, "a", "12:00"), (8, "b", "12:00")]
    assert _log(postgres_dsn) == [("b-1", 1), ("b-2", 1), ("b-3", 2)]


def test_a_new_column_is_added_in_the_same_transaction(postgres_dsn: str) -> None:
    _run(postgres_dsn, _plan("b-1", "merge", 1, create=True), "1,one,2024-05-01 10:00+00\n")
    plan = _plan("b-2", "merge", 1, create=False)
    widened = statements.LoadPlan(
        **{
            **plan.__dict__,
            "columns": [*plan.columns, ("Region", RedshiftType("VARCHAR", (40,)))],
            "added_columns": [("Region", RedshiftType("VARCHAR", (40,)))],
        }
    )
    _run(postgres_dsn, widened, "1,one,2024-05-01 11:00+00,EU\n")

    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute('SELECT "Order Id", "Region" FROM "Shop Data"."order"')
        assert cursor.fetchall() == [(1, "EU")]


@pytest.mark.parametrize("mode", ["append", "merge", "replace"])
def test_rows_repeating_an_event_id_within_the_batch_go_in_once_whatever_the_mode(
    postgres_dsn: str, mode: str
) -> None:
    # the note stands for a stream's event id: events 'e1' and 'e2' are delivered twice;
    # keys 1 and 2 carry two distinct events each, which merge still reduces to the latest
    data = (
        "1,e1,2024-05-01 10:00+00\n1,e1,2024-05-01 10:00+00\n1,e3,2024-05-01 10:30+00\n"
        "2,e2,2024-05-01 10:00+00\n2,e2,2024-05-01 10:00+00\n3,e4,2024-05-01 10:00+00\n"
    )

    _run(postgres_dsn, _plan("b-1", mode, 6, create=True, dedup_key=["note"]), data)

    if mode == "append":
        assert _rows(postgres_dsn) == [
            (1, "e1", "10:00"),
            (1, "e3", "10:30"),
            (2, "e2", "10:00"),
            (3, "e4", "10:00"),
        ]
    else:
        assert _rows(postgres_dsn) == [(1, "e3", "10:30"), (2, "e2", "10:00"), (3, "e4", "10:00")]
    assert _log(postgres_dsn) == [("b-1", 6)]


def test_without_a_dedup_key_append_keeps_repeated_rows(postgres_dsn: str) -> None:
    data = "1,e1,2024-05-01 10:00+00\n1,e1,2024-05-01 10:00+00\n"

    _run(postgres_dsn, _plan("b-1", "append", 2, create=True), data)

    assert _rows(postgres_dsn) == [(1, "e1", "10:00"), (1, "e1", "10:00")]


SALESFORCE_COLUMNS = [
    Column(name="Id", type="id", source_type="salesforce", nullable=False),
    Column(name="Name", type="string(80)", source_type="salesforce"),
    Column(name="SystemModstamp", type="datetime", source_type="salesforce"),
]


def _salesforce_plan(batch_id: str, rows: int, *, create: bool) -> Any:
    return statements.LoadPlan(
        schema="crm",
        table="Account",
        mode="merge",
        batch=statements.BatchIdentity("crm", "Account", "2024-05-01T12:00:00Z", batch_id),
        columns=[(c.name, redshift_type(c)) for c in SALESFORCE_COLUMNS],
        primary_key=["Id"],
        cursor="SystemModstamp",
        rows=rows,
        loaded_at="2024-05-01T12:05:00+00:00",
        role_arn="arn:aws:iam::123456789012:role/copy",
        truncate=False,
        create=create,
        manifest_url="s3://bucket/data/redshift.manifest",
    )


def test_a_salesforce_record_read_again_at_the_window_edge_stays_one_row(
    postgres_dsn: str,
) -> None:
    # Salesforce windows include their lower bound, so the record modified in the edge second
    # comes again in the next batch, with the same Id and SystemModstamp, even twice in one
    a, b = "001000000000001AAA", "001000000000002AAA"
    first = f'"{a}","Acme","2024-05-01T10:00:00.000Z"\n'
    _run(postgres_dsn, _salesforce_plan("b-1", 1, create=True), first)
    edge = (
        f'"{a}","Acme","2024-05-01T10:00:00.000Z"\n"{a}","Acme","2024-05-01T10:00:00.000Z"\n'
        f'"{b}","Beta","2024-05-01T10:15:00.000Z"\n"{b}","Beta","2024-05-01T10:15:00.000Z"\n'
    )
    _run(postgres_dsn, _salesforce_plan("b-2", 4, create=False), edge)

    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            'SELECT "Id", "Name", count(*) OVER (PARTITION BY "Id") FROM "crm"."Account" ORDER BY 1'
        )
        assert cursor.fetchall() == [(a, "Acme", 1), (b, "Beta", 1)]
