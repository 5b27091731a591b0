"""The statements an extraction would run, as text, for `reef explain`."""

from psycopg2 import sql

from handlers.contracts.batch import Bounds
from handlers.contracts.spec import PostgresSource
from handlers.errors import TerminalError
from handlers.sources.postgres import queries
from handlers.sources.postgres.connection import render

# Values known only at run time are shown as quoted markers where the statement has values.
_WATERMARK = "<watermark>"
_MAXIMUM = "<maximum when the batch was fixed>"


def explain_extract(spec: PostgresSource, unit: str) -> list[str]:
    """Every statement an extraction of `unit` runs, each after a `--` line saying when."""
    table = next((table for table in spec.tables if table.unit == unit), None)
    if table is None:
        raise TerminalError(f"unit {unit!r} is not a table of this source")
    bounds = Bounds(lower=_WATERMARK, upper=_MAXIMUM) if table.cursor else Bounds()
    key = queries.order_key(table)
    last = [f"<last {name} of the previous chunk>" for name in key]
    through = [f"<last {name} of this chunk>" for name in key]
    columns = sql.SQL("<every column, in table order>")
    shown: list[tuple[str, sql.Composable]] = []
    if table.cursor is not None:
        shown.append(("scheduler: the batch's upper bound", queries.max_cursor(table)))
    shown += [
        ("extract: the columns, once per batch (values are parameters)", queries.COLUMNS),
        (
            "extract: the first chunk's last key and row count",
            queries.chunk_end(table, bounds, None),
        ),
        (
            "extract: the next chunks' last key and row count",
            queries.chunk_end(table, bounds, last),
        ),
        (
            "extract: a chunk's rows, streamed to gzip in S3",
            queries.copy_rows(table, columns, bounds, last, through),
        ),
    ]
    return [f"-- {when}\n{render(statement)}" for when, statement in shown]
