"""Every statement Reef sends to Redshift parses as Redshift SQL, whatever the names."""

import pytest
import sqlglot
from sqlglot import exp

from generator.specs import load_specs
from handlers.contracts.batch import Column
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresSource,
    RedshiftDestination,
    SalesforceSource,
)
from handlers.warehouses.redshift import explain_load, statements
from tests.unit.warehouses.redshift.conftest import make_destination

MODES = ["merge", "append", "replace"]


def _redshift_specs() -> list[ConnectorSpec]:
    specs = load_specs()
    return [spec for spec in specs.values() if isinstance(spec.destination, RedshiftDestination)]


def _made_up_units(spec: ConnectorSpec) -> list[tuple[str, list[Column], list[str], str | None]]:
    """(unit, columns, primary key, cursor) with columns a source of this kind could report."""
    source = spec.source
    if isinstance(source, PostgresSource):
        units = []
        for table in source.tables:
            keys = [_postgres(key, "bigint") for key in table.primary_key]
            cursor = [_postgres(table.cursor, "timestamp with time zone")] if table.cursor else []
            others = [
                _postgres(name, type_)
                for name, type_ in [
                    ("amount", "numeric(12,2)"),
                    ("payload", "jsonb"),
                    ("tags", "text[]"),
                    ("blob", "bytea"),
                    ("token", "uuid"),
                    ("took", "interval"),
                ]
            ]
            units.append(
                (table.unit, keys + others + cursor, list(table.primary_key), table.cursor)
            )
        return units
    if isinstance(source, SalesforceSource):
        return [
            (
                obj.unit,
                [
                    Column(name="Id", type="id", source_type="salesforce"),
                    Column(name="Name", type="string(80)", source_type="salesforce"),
                    Column(name="Amount", type="currency", source_type="salesforce"),
                    Column(name="BillingAddress", type="address", source_type="salesforce"),
                    Column(name="SystemModstamp", type="datetime", source_type="salesforce"),
                ],
                ["Id"],
                obj.cursor,
            )
            for obj in source.objects
        ]
    assert isinstance(source, KinesisSource)
    stream = source.table
    columns = [Column(name=c.name, type=c.type, source_type="stream") for c in stream.columns]
    return [(stream.name, columns, list(stream.primary_key), stream.event_time_field)]


def _postgres(name: str, type_: str) -> Column:
    return Column(name=name, type=type_, source_type="postgres")


def _assert_parses(sql: str) -> None:
    parsed = sqlglot.parse(sql, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1, sql
    # sqlglot falls back to an opaque Command for syntax it does not know; that is no parse
    assert not isinstance(parsed[0], exp.Command), sql


def test_the_example_specs_include_redshift_destinations() -> None:
    assert {spec.name for spec in _redshift_specs()} >= {"shop-orders", "crm-salesforce"}


@pytest.mark.parametrize("mode", MODES)
def test_every_statement_for_every_example_spec_parses_as_redshift_sql(mode: str) -> None:
    count = 0
    for spec in _redshift_specs():
        assert isinstance(spec.destination, RedshiftDestination)
        for unit, columns, key, cursor in _made_up_units(spec):
            for sql in explain_load(spec.destination, unit, columns, key, cursor=cursor, mode=mode):  # type: ignore[arg-type]
                _assert_parses(sql)
                count += 1
    assert count > 20


@pytest.mark.parametrize("mode", MODES)
def test_identifiers_that_need_quoting_are_quoted_and_parse(mode: str) -> None:
    destination = make_destination(schema="Select", truncate_values=True)
    columns = [
        Column(name="Order Id", type="bigint", source_type="postgres"),
        Column(name="from", type="text", source_type="postgres"),
        Column(name="mixedCase", type="numeric(40,4)", source_type="postgres"),
        Column(name="$weird_", type="character(3)", source_type="postgres"),
        Column(name="Updated At", type="timestamp without time zone", source_type="postgres"),
    ]
    sqls = explain_load(
        destination,
        "Order Items",
        columns,
        ["Order Id", "from"],
        cursor="Updated At",
        mode=mode,  # type: ignore[arg-type]
    )
    for sql in sqls:
        _assert_parses(sql)
    joined = "\n".join(sqls)
    assert '"Select"."Order Items"' in joined
    assert '"Order Id" BIGINT NOT NULL' in joined
    assert '"mixedCase" NUMERIC(38,4)' in joined
    assert "TRUNCATECOLUMNS" in joined
    # every name the parser sees is one of ours, each quoted
    names = {
        identifier.this
        for sql in sqls
        for identifier in sqlglot.parse_one(sql, read="redshift").find_all(exp.Identifier)
        if not identifier.quoted
    }
    assert names == set(), names


def test_an_embedded_quote_is_doubled() -> None:
    assert statements.identifier('a"b') == '"a""b"'
    assert statements.literal("it's") == "'it''s'"


def test_a_literal_with_a_backslash_or_control_character_is_refused() -> None:
    for value in ("a\\b", "line\nbreak", "nul\x00"):
        with pytest.raises(ValueError, match="not composable"):
            statements.literal(value)


def test_the_copy_reads_a_mandatory_manifest_of_gzip_csv_with_nulls_apart_from_empty_strings() -> (
    None
):
    sql = statements.copy("_reef_staging", ["id"], "s3://b/k/redshift.manifest", "arn:r", False)
    for option in (
        "MANIFEST",
        "FORMAT AS CSV",
        "GZIP",
        "EMPTYASNULL",
        "COMPUPDATE OFF",
        "STATUPDATE OFF",
    ):
        assert option in sql
    assert "IAM_ROLE 'arn:r'" in sql
    assert "TRUNCATECOLUMNS" not in sql
    _assert_parses(sql)


def test_the_load_error_queries_parse() -> None:
    _assert_parses(statements.load_errors(provisioned=True))
    _assert_parses(statements.load_errors(provisioned=False))


@pytest.mark.parametrize("mode", MODES)
def test_statements_that_drop_repeated_events_parse_and_partition_by_the_event_id(
    mode: str,
) -> None:
    columns = [
        Column(name="Event Id", type="string", source_type="stream"),
        Column(name="order", type="integer", source_type="stream"),
        Column(name="at", type="timestamp", source_type="stream"),
    ]

    sqls = explain_load(
        make_destination(),
        "events",
        columns,
        ["order"],
        cursor="at",
        mode=mode,  # type: ignore[arg-type]
        dedup_key=["Event Id"],
    )

    for sql in sqls:
        _assert_parses(sql)
    [insert] = [sql for sql in sqls if sql.startswith('INSERT INTO "shop"."events"')]
    windows = [
        window
        for window in sqlglot.parse_one(insert, read="redshift").find_all(exp.Window)
        if window.args.get("partition_by")
    ]
    partitions = [[column.name for column in window.args["partition_by"]] for window in windows]
    assert ["Event Id"] in partitions
