"""Helpers of the Salesforce source tests: specs, a batch runner, and a PostgreSQL merge table."""

import io
from collections.abc import Callable
from typing import Any

import psycopg2

from handlers.contracts.batch import Bounds
from handlers.contracts.spec import SalesforceSource
from handlers.sources.base import ChunkRead, Position, WaitFor
from handlers.sources.salesforce import SalesforceReader
from tests.standins.salesforce import Org


def source_spec(**overrides: Any) -> SalesforceSource:
    """A Salesforce source spec with one Account object; keyword arguments override."""
    account = {"name": "Account", **overrides.pop("account", {})}
    return SalesforceSource.model_validate(
        {"type": "salesforce", "secret": "reef/salesforce", "objects": [account], **overrides}
    )


class Batch:
    """What one batch read: CSV chunks, deleted keys, waits, and the position it stopped at."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.deleted: list[list[Any]] = []
        self.waits: list[WaitFor] = []
        self.rows = 0

    @property
    def csv(self) -> bytes:
        return b"".join(self.chunks)


def run_batch(
    reader: SalesforceReader,
    bounds: Bounds,
    unit: str = "Account",
    position: Position | None = None,
    stop_on_wait: Callable[[WaitFor], bool] = lambda wait: False,
    batch: Batch | None = None,
) -> tuple[Batch, Position | None]:
    """Call read_chunk like the extract loop does, until the range is done or a wait stops it.

    A WaitFor is honoured at once (the delay is the runtime's business), unless `stop_on_wait`
    says to stop there; then the position to resume from is returned with the batch.
    """
    batch = batch or Batch()
    while True:
        out = io.BytesIO()
        result = reader.read_chunk(unit, bounds, position, out)
        if isinstance(result, WaitFor):
            assert out.getvalue() == b"", "a wait must not write rows"
            batch.waits.append(result)
            position = result.position
            if stop_on_wait(result):
                return batch, position
            continue
        assert isinstance(result, ChunkRead)
        if out.getvalue():
            batch.chunks.append(out.getvalue())
        batch.rows += result.rows
        batch.deleted.extend(result.deleted_keys)
        position = result.position
        if position is None:
            return batch, None


_PG_TYPES = {
    "boolean": "boolean",
    "int": "integer",
    "double": "double precision",
    "currency": "numeric",
    "percent": "numeric",
    "date": "date",
    "datetime": "timestamptz",
}


class MergeTable:
    """A real PostgreSQL table that batches are COPYed and merged into, as a warehouse would."""

    def __init__(self, dsn: str, columns: list[Any]) -> None:
        self.names = [column.name for column in columns]
        self.connection = psycopg2.connect(dsn)
        definition = ", ".join(
            f'"{column.name}" {_PG_TYPES.get(column.type, "text")}' for column in columns
        )
        with self.connection, self.connection.cursor() as cursor:
            cursor.execute(f'CREATE TABLE target ({definition}, PRIMARY KEY ("Id"))')

    def load(self, batch: Batch) -> None:
        """COPY the batch's chunks, keep the newest version of each Id, apply deleted keys."""
        quoted = ", ".join(f'"{name}"' for name in self.names)
        with self.connection, self.connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE staging (LIKE target) ON COMMIT DROP")
            cursor.execute("ALTER TABLE staging DROP CONSTRAINT IF EXISTS staging_pkey")
            for chunk in batch.chunks:
                cursor.copy_expert(
                    f"COPY staging ({quoted}) FROM STDIN WITH (FORMAT csv)", io.BytesIO(chunk)
                )
            cursor.execute('DELETE FROM target WHERE "Id" IN (SELECT "Id" FROM staging)')
            cursor.execute(
                'INSERT INTO target SELECT DISTINCT ON ("Id") * FROM staging'
                ' ORDER BY "Id", "SystemModstamp" DESC'
            )
            for (key,) in batch.deleted:
                cursor.execute('DELETE FROM target WHERE "Id" = %s', (key,))

    def rows(self, *names: str) -> dict[str, tuple[Any, ...]]:
        quoted = ", ".join(f'"{name}"' for name in names)
        with self.connection, self.connection.cursor() as cursor:
            cursor.execute(f'SELECT "Id", {quoted} FROM target')
            return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}

    def close(self) -> None:
        self.connection.close()


def org_rows(org: Org, *names: str, include_deleted: bool = False) -> dict[str, tuple[Any, ...]]:
    """The org's records as the merge table holds them: Id -> the named fields' values."""
    records = org.objects["Account"].records.values()
    return {
        record["Id"]: tuple(record[name] for name in names)
        for record in records
        if include_deleted or not record["IsDeleted"]
    }
