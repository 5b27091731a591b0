"""`reef explain` prints the statements the handlers would run, quoted as psycopg2 quotes them."""

import psycopg2
import pytest
from typer.testing import CliRunner

from handlers.contracts.batch import Bounds, Column
from handlers.contracts.spec import PostgresTable
from handlers.sources.postgres import queries
from handlers.sources.postgres.connection import render
from handlers.warehouses.postgres import explain_load
from handlers.warehouses.postgres.statements import Target, insert_latest
from main import app
from tests.integration.postgres.conftest import destination_spec

ODD = PostgresTable.model_validate(
    {
        "schema": "Legacy Billing",
        "table": "select",
        "primary_key": ["Note Id", "line"],
        "cursor": "Updated At",
    }
)


@pytest.mark.postgres
def test_statements_render_without_a_server_exactly_as_psycopg2_renders_them(
    postgres_dsn: str,
) -> None:
    columns = [Column(name=name, type="text", source_type="postgres") for name in ['a"b', "%x"]]
    target = Target("My Schema", 'ta"ble', columns, ['a"b'], "%x")
    statements = [
        queries.copy_chunk(ODD, ["x", 'we"ird'], Bounds(lower="it's"), ["1", "2"], ["3", "4"]),
        queries.chunk_end(ODD, Bounds(lower="a", upper="b"), None),
        insert_latest(target, skip_kept=True),
    ]  # fmt: skip
    connection = psycopg2.connect(postgres_dsn)

    for statement in statements:
        assert render(statement) == statement.as_string(connection)
    connection.close()


def test_explain_prints_every_unit_with_quoted_identifiers_and_no_offset() -> None:
    result = CliRunner().invoke(app, ["explain", "billing-replica", "--env", "local"])

    assert result.exit_code == 0, result.output
    assert result.output.count("-- ==== unit ") == 3
    assert 'FROM "Legacy Billing"."Credit Notes"' in result.output
    assert 'COPY "_reef_stage" ("Note Id") FROM STDIN WITH (FORMAT csv);' in result.output
    assert "OFFSET" not in result.output.upper()


def test_explain_of_an_unknown_connector_names_the_known_ones_and_exits_2() -> None:
    result = CliRunner().invoke(app, ["explain", "no-such-flow"])

    assert result.exit_code == 2
    assert "billing-replica" in result.output


def test_load_statements_follow_the_write_mode() -> None:
    columns = [Column(name="id", type="integer", source_type="postgres")]

    append = explain_load(destination_spec("append"), "t", columns, [])
    replace = explain_load(destination_spec("replace"), "t", columns, ["id"])

    assert not any(line.startswith("DELETE") for line in append)
    assert 'DELETE FROM "Ware House"."t"' in replace
