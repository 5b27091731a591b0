"""The PostgreSQL warehouse: one transaction per batch, from S3 files to the merged table."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import psycopg2
from psycopg2.extensions import cursor as Cursor

from handlers.contracts.batch import Column, Manifest
from handlers.contracts.spec import PostgresDestination
from handlers.errors import TerminalError
from handlers.sources.postgres.connection import connect, translated_errors
from handlers.warehouses.base import Loaded, LoadPending, WriteMode
from handlers.warehouses.postgres import statements
from handlers.warehouses.postgres.statements import Target
from handlers.warehouses.postgres.types import warehouse_type

# A load waits at most this long for a lock (another load, a reader's DDL) before giving up
# with a transient error, so that SQS retries it later instead of the function timing out.
LOCK_TIMEOUT_MS = 60_000
# Lambda stops a function after at most 900 seconds; a statement past that would run on in
# the server for a client that is gone.
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
DEFAULT_STATEMENT_TIMEOUT_MS = 840_000
# Memory for the merge's sort and hash of one load (PostgreSQL's default is 4 MB, which sends
# a batch of a few hundred thousand rows to disk); one load runs per connection.
# https://www.postgresql.org/docs/15/runtime-config-resource.html#GUC-WORK-MEM
WORK_MEM = "128MB"


class PostgresWarehouse:
    """Loads manifests into the tables of one schema of a PostgreSQL database.

    `open_file(key)` must return the decompressed CSV bytes of one staging file (see
    handlers.staging.open_gzip_object); files are streamed into COPY, never held whole.
    """

    def __init__(
        self,
        spec: PostgresDestination,
        secret: dict[str, Any],
        *,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ):
        self.spec = spec
        self.statement_timeout_ms = statement_timeout_ms
        self._connection = connect(secret, application_name="reef-warehouse")
        self._prepared = False

    def load(
        self,
        manifest: Manifest,
        mode: WriteMode,
        open_file: Callable[[str], IO[bytes]],
        state: dict[str, Any] | None = None,
    ) -> Loaded | LoadPending:
        """Load the batch once: table evolved, files staged and merged, load log row, commit."""
        target = target_of(self.spec.schema_, manifest)
        _check_key(target, mode)
        if not self._prepared:
            self._prepare_schema()
        doing = f"loading batch {manifest.batch_id} into {_name(target)}"
        with self._transaction(doing) as cur:
            cur.execute(statements.lock(), {"lock": f"reef:{self.spec.schema_}.{target.table}"})
            if not _claim(cur, self.spec.schema_, manifest):
                cur.execute(statements.logged_rows(self.spec.schema_), _log_row(manifest))
                row = cur.fetchone()
                return Loaded(rows=int(row[0]) if row else 0, already=True)

            _evolve_table(cur, target, mode)
            staged = _stage(cur, target, manifest, open_file)
            if target.dedup_key:
                cur.execute(statements.drop_repeated_events(target))
            _write(cur, target, mode)
            _apply_deletes(cur, target, manifest, open_file)
        return Loaded(rows=staged)

    def close(self) -> None:
        self._connection.close()

    def _prepare_schema(self) -> None:
        schema = self.spec.schema_
        with self._transaction(f"creating schema {schema} and its load log") as cur:
            # loads of different tables may race to create the schema on first use
            cur.execute(statements.lock(), {"lock": f"reef:{schema}"})
            cur.execute(statements.create_schema(schema))
            cur.execute(statements.create_load_log(schema))
        self._prepared = True

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Cursor]:
        with translated_errors(doing):
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true),"
                        " set_config('statement_timeout', %s, true),"
                        " set_config('work_mem', %s, true)",
                        (str(LOCK_TIMEOUT_MS), str(self.statement_timeout_ms), WORK_MEM),
                    )
                    yield cursor
                self._connection.commit()
            except BaseException:
                if not self._connection.closed:
                    with suppress(psycopg2.Error):
                        self._connection.rollback()
                raise


def target_of(schema: str, manifest: Manifest) -> Target:
    """The warehouse table a manifest goes into: the unit's name in the destination schema."""
    return Target(
        schema=schema,
        table=manifest.unit,
        columns=list(manifest.columns),
        primary_key=list(manifest.primary_key),
        cursor=manifest.cursor,
        dedup_key=tuple(manifest.dedup_key),
    )


def _check_key(target: Target, mode: WriteMode) -> None:
    names = set(target.names)
    missing = [name for name in [*target.primary_key, target.cursor] if name and name not in names]
    if missing:
        raise TerminalError(
            f"batch for {_name(target)} has no column {', '.join(missing)} named as its key"
            " or cursor; check the unit's primary_key and cursor against the source table"
        )
    if mode == "merge" and not target.primary_key:
        raise TerminalError(
            f"merge into {_name(target)} needs a primary key; name it in the spec or use"
            " mode: append"
        )


def _claim(cur: Cursor, schema: str, manifest: Manifest) -> bool:
    cur.execute(statements.claim_batch(schema), _log_row(manifest))
    return cur.fetchone() is not None


def _log_row(manifest: Manifest) -> dict[str, Any]:
    return {
        "batch_id": manifest.batch_id,
        "connector": manifest.connector,
        "unit": manifest.unit,
        "timelabel": manifest.timelabel,
        "rows": manifest.rows,
    }


def _evolve_table(cur: Cursor, target: Target, mode: WriteMode) -> None:
    cur.execute(statements.TARGET_COLUMNS, {"schema": target.schema, "table": target.table})
    existing = dict(cur.fetchall())
    if not existing:
        cur.execute(statements.create_table(target, with_key=mode != "append"))
        return
    for column in target.columns:
        if column.name not in existing:
            cur.execute(statements.add_column(target, column))
            continue
        _check_type(target, column, existing[column.name])


def _check_type(target: Target, column: Column, current: str) -> None:
    wanted = warehouse_type(column)
    if wanted != current:
        raise TerminalError(
            f"column {column.name!r} of table {_name(target)} changed type: the warehouse has"
            f" {current}, the source now sends {column.type} (loaded as {wanted}); alter the"
            " warehouse column to the new type (or rebuild the table), then retry the batch"
        )


def _stage(
    cur: Cursor, target: Target, manifest: Manifest, open_file: Callable[[str], IO[bytes]]
) -> int:
    cur.execute(statements.create_stage(target))
    copy = statements.copy_into_stage(target).as_string(cur)
    staged = 0
    for file in manifest.files:
        with open_file(file.key) as stream:
            cur.copy_expert(copy, stream)
        staged += cur.rowcount
    cur.execute(statements.analyze_stage())
    if staged != manifest.rows:
        raise TerminalError(
            f"batch {manifest.batch_id} for {_name(target)}: its manifest counts"
            f" {manifest.rows} rows but its files hold {staged}; extract the batch again"
        )
    return staged


def _write(cur: Cursor, target: Target, mode: WriteMode) -> None:
    if mode == "append":
        cur.execute(statements.insert_all(target))
        return
    if mode == "replace":
        cur.execute(statements.delete_all(target))
        if not target.primary_key:
            cur.execute(statements.insert_all(target))
            return
        cur.execute(statements.insert_latest(target, skip_kept=False))
        return
    cur.execute(statements.delete_replaced(target))
    cur.execute(statements.insert_latest(target, skip_kept=True))


def _apply_deletes(
    cur: Cursor, target: Target, manifest: Manifest, open_file: Callable[[str], IO[bytes]]
) -> None:
    if not manifest.deleted_keys_files or not target.primary_key:
        return
    cur.execute(statements.create_deleted(target))
    copy = statements.copy_into_deleted(target).as_string(cur)
    for file in manifest.deleted_keys_files:
        with open_file(file.key) as stream:
            cur.copy_expert(copy, stream)
    cur.execute(statements.delete_deleted(target))


def _name(target: Target) -> str:
    return f"{target.schema}.{target.table}"
