"""The PostgreSQL source: bounds, columns and keyset chunks of one table per unit."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import psycopg2
import psycopg2.extensions

from handlers.contracts.batch import Bounds, Column
from handlers.contracts.spec import PostgresSource as PostgresSourceSpec
from handlers.contracts.spec import PostgresTable
from handlers.errors import TerminalError
from handlers.sources.base import ChunkRead, Position, WaitFor
from handlers.sources.postgres import queries
from handlers.sources.postgres.connection import connect, translated_errors

# A chunk must finish well inside one Lambda invocation (at most 900 seconds); a statement
# that runs longer is cancelled and the chunk retried rather than holding a snapshot open.
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
DEFAULT_STATEMENT_TIMEOUT_MS = 300_000


class PostgresSource:
    """Reads the tables of a `postgres` source spec; one connection, short transactions.

    Every chunk runs in its own READ ONLY, REPEATABLE READ transaction, so that finding the
    chunk's last key and copying its rows see one snapshot, and no transaction outlives a
    chunk. A position is `{"after": [last key as text], "columns": [names]}`: the column list
    is fixed by a batch's first chunk, so that every file of a batch has the same columns.
    Rows whose cursor is NULL are never in an incremental range.
    """

    def __init__(
        self,
        spec: PostgresSourceSpec,
        secret: dict[str, Any],
        *,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ):
        self.spec = spec
        self.statement_timeout_ms = statement_timeout_ms
        self._tables = {table.unit: table for table in spec.tables}
        self._connection = connect(secret, application_name="reef-source")
        self._connection.set_session(isolation_level="REPEATABLE READ", readonly=True)

    def bounds(self, unit: str, watermark: str | None) -> Bounds:
        """After the watermark up to the cursor's maximum now; Bounds() for a full unit."""
        table = self._table(unit)
        if table.cursor is None:
            return Bounds()
        with self._transaction(f"reading the maximum of {_name(table)}.{table.cursor}") as cur:
            cur.execute(queries.max_cursor(table))
            row = cur.fetchone()
        upper = row[0] if row is not None and row[0] is not None else watermark
        return Bounds(lower=watermark, upper=upper)

    def columns(self, unit: str) -> list[Column]:
        """The table's columns from the catalog: names and formatted types, in table order."""
        table = self._table(unit)
        with self._transaction(f"reading the columns of {_name(table)}") as cur:
            cur.execute(queries.COLUMNS, {"schema": table.schema_, "table": table.table})
            rows = cur.fetchall()
        if not rows:
            raise TerminalError(
                f"table {_name(table)} not found in the source database; check the spec's"
                " schema and table, and that the secret's user may read the table"
            )
        return [
            Column(name=name, type=type_, source_type="postgres", nullable=nullable)
            for name, type_, nullable in rows
        ]

    def read_chunk(
        self, unit: str, bounds: Bounds, position: Position | None, out: IO[bytes]
    ) -> ChunkRead | WaitFor:
        """Copy the next chunk of the range as CSV into `out`; position None when done."""
        table = self._table(unit)
        if table.cursor is not None and bounds.upper is None:
            return ChunkRead(rows=0, position=None)  # an empty table has no range to read
        after = position.get("after") if position else None
        # Known gap: the first chunk reads the columns again, apart from the extract handler's
        # `columns()` call at the start of the batch; a column added or dropped between the two
        # makes the files disagree with the manifest, and the load fails on a row count or
        # COPY error (terminal, so the batch is re-extracted). Closing it needs the column list
        # passed to read_chunk, a change of the Source interface.
        columns = position["columns"] if position else [c.name for c in self.columns(unit)]

        with self._transaction(f"reading a chunk of {_name(table)}") as cur:
            cur.execute(queries.chunk_end(table, bounds, after))
            end = cur.fetchone()
            if end is None:
                return ChunkRead(rows=0, position=None)
            through, rows = list(end[:-1]), int(end[-1])
            self._check_columns(table, columns, cur)
            statement = queries.copy_chunk(table, columns, bounds, after, through)
            cur.copy_expert(statement.as_string(cur), out)

        done = rows < table.chunk_rows
        return ChunkRead(
            rows=rows, position=None if done else {"after": through, "columns": columns}
        )

    def close(self) -> None:
        self._connection.close()

    def _table(self, unit: str) -> PostgresTable:
        try:
            return self._tables[unit]
        except KeyError:
            raise TerminalError(
                f"unit {unit!r} is not a table of this connector; known units:"
                f" {', '.join(sorted(self._tables))}"
            ) from None

    def _check_columns(
        self, table: PostgresTable, columns: list[str], cur: psycopg2.extensions.cursor
    ) -> None:
        cur.execute(queries.COLUMNS, {"schema": table.schema_, "table": table.table})
        present = {row[0] for row in cur.fetchall()}
        gone = [name for name in columns if name not in present]
        if gone:
            raise TerminalError(
                f"column {', '.join(gone)} of {_name(table)} was dropped while a batch was"
                " being extracted; fail this batch and let the next one start afresh"
            )

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[psycopg2.extensions.cursor]:
        """One short transaction with a statement timeout; driver errors translated."""
        with translated_errors(doing):
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('statement_timeout', %s, true)",
                        (str(self.statement_timeout_ms),),
                    )
                    yield cursor
                self._connection.commit()
            except BaseException:
                _rollback_quietly(self._connection)
                raise


def _rollback_quietly(connection: psycopg2.extensions.connection) -> None:
    # the original error is the one to report; a dead connection cannot roll back anyway
    if not connection.closed:
        with suppress(psycopg2.Error):
            connection.rollback()


def _name(table: PostgresTable) -> str:
    return f"{table.schema_}.{table.table}"
