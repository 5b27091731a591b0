"""The statements a PostgreSQL load runs, composed with psycopg2's `sql` module.

Identifiers (schema, table, columns) always go through `sql.Identifier`; values (batch id,
lock names) are parameters. Column types come from `types.warehouse_type`, which only ever
returns built-in type names, so they are safe to compose as SQL.
"""

from dataclasses import dataclass

from psycopg2 import sql

from handlers.contracts.batch import Column
from handlers.warehouses.postgres.types import warehouse_type

LOAD_LOG = "_reef_load_log"
STAGE = "_reef_stage"
DELETED = "_reef_deleted"
# Insertion order of staged rows: with no cursor, the last copy of a key in a batch wins.
SEQUENCE = "_reef_seq"


@dataclass(frozen=True)
class Target:
    """A warehouse table and what a load of it needs to know about the batch's columns."""

    schema: str
    table: str
    columns: list[Column]
    primary_key: list[str]
    cursor: str | None = None
    dedup_key: tuple[str, ...] = ()

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def key_columns(self) -> list[Column]:
        by_name = {column.name: column for column in self.columns}
        return [by_name[name] for name in self.primary_key]


def lock(name_param: str = "lock") -> sql.Composed:
    """Serialize work on one name (a schema, a table) until the transaction ends."""
    return sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Placeholder(name_param))


def create_schema(schema: str) -> sql.Composed:
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))


def create_load_log(schema: str) -> sql.Composed:
    """The load log: one row per loaded batch, written in the batch's own transaction."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} ("
        "batch_id text PRIMARY KEY, connector text NOT NULL, unit text NOT NULL,"
        " timelabel text NOT NULL, rows bigint NOT NULL,"
        " loaded_at timestamp with time zone NOT NULL DEFAULT now())"
    ).format(sql.Identifier(schema, LOAD_LOG))


def claim_batch(schema: str) -> sql.Composed:
    """Insert the batch's load log row; no row back means the batch was loaded before.

    A second delivery racing the first waits on the primary key until the first commits
    (then gets nothing back) or rolls back (then claims the batch itself).
    """
    return sql.SQL(
        "INSERT INTO {} (batch_id, connector, unit, timelabel, rows)"
        " VALUES (%(batch_id)s, %(connector)s, %(unit)s, %(timelabel)s, %(rows)s)"
        " ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id"
    ).format(sql.Identifier(schema, LOAD_LOG))


def logged_rows(schema: str) -> sql.Composed:
    return sql.SQL("SELECT rows FROM {} WHERE batch_id = %(batch_id)s").format(
        sql.Identifier(schema, LOAD_LOG)
    )


# The target's columns as the catalog spells their types; values are parameters.
TARGET_COLUMNS = sql.SQL(
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
    " FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
    " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)


def create_table(target: Target, with_key: bool) -> sql.Composed:
    """The target table, with the source's columns and (for merge and replace) its key."""
    parts = [_definition(column) for column in target.columns]
    if with_key and target.primary_key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(_names(target.primary_key)))
    return sql.SQL("CREATE TABLE {} ({})").format(target.identifier, sql.SQL(", ").join(parts))


def add_column(target: Target, column: Column) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(target.identifier, _definition(column))


def create_stage(target: Target) -> sql.Composed:
    """A temporary table for the batch's rows, dropped at commit or rollback."""
    definitions = [_definition(column) for column in target.columns]
    definitions.append(
        sql.SQL("{} bigint GENERATED ALWAYS AS IDENTITY").format(sql.Identifier(SEQUENCE))
    )
    return sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(STAGE), sql.SQL(", ").join(definitions)
    )


def copy_into_stage(target: Target) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(STAGE), _names(target.names)
    )


def analyze_stage() -> sql.Composed:
    """Statistics for the staged rows, so that the merge's joins are planned on real counts."""
    return sql.SQL("ANALYZE {}").format(sql.Identifier(STAGE))


def create_deleted(target: Target) -> sql.Composed:
    """A temporary table for the keys deleted at the source in this batch."""
    definitions = [_definition(column) for column in target.key_columns()]
    return sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(DELETED), sql.SQL(", ").join(definitions)
    )


def copy_into_deleted(target: Target) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(DELETED), _names(target.primary_key)
    )


def drop_repeated_events(target: Target) -> sql.Composed:
    """Delete staged rows that repeat an earlier staged row's event id (the dedup key)."""
    return sql.SQL("DELETE FROM {stage} AS s USING {stage} AS d WHERE {same} AND {later}").format(
        stage=sql.Identifier(STAGE),
        same=_keys_match(list(target.dedup_key), "s", "d"),
        later=sql.SQL("{} > {}").format(
            sql.Identifier("s", SEQUENCE), sql.Identifier("d", SEQUENCE)
        ),
    )


def delete_replaced(target: Target) -> sql.Composed:
    """Delete the target's rows of the staged keys, unless the target's version is newer."""
    condition = _keys_match(target.primary_key, "t", "s")
    if target.cursor is not None:
        older = sql.SQL("({t} IS NULL OR {t} <= {s})").format(
            t=sql.Identifier("t", target.cursor), s=sql.Identifier("s", target.cursor)
        )
        condition = sql.SQL("{} AND {}").format(condition, older)
    return sql.SQL("DELETE FROM {} AS t USING {} AS s WHERE {}").format(
        target.identifier, sql.Identifier(STAGE), condition
    )


def insert_latest(target: Target, skip_kept: bool) -> sql.Composed:
    """Insert the latest staged version of each key; `skip_kept` leaves newer target rows be."""
    # Known cost: DISTINCT ON sorts the whole batch even when every key occurs once, which a
    # PostgreSQL source's batch nearly always guarantees; this halves load speed against a
    # plain COPY (bench/load_postgres.py). Skipping it safely needs the manifest to say that
    # its keys are unique (a flag the extract side sets), then a plain INSERT ... SELECT.
    order = [sql.Identifier("s", name) for name in target.primary_key]
    if target.cursor is not None:
        order.append(sql.SQL("{} DESC NULLS LAST").format(sql.Identifier("s", target.cursor)))
    order.append(sql.SQL("{} DESC").format(sql.Identifier("s", SEQUENCE)))
    kept = sql.SQL("")
    if skip_kept and target.cursor is not None:
        kept = sql.SQL(" WHERE NOT EXISTS (SELECT FROM {} AS t WHERE {})").format(
            target.identifier, _keys_match(target.primary_key, "t", "s")
        )
    return sql.SQL(
        "INSERT INTO {target} ({columns}) SELECT DISTINCT ON ({key}) {staged} FROM {stage} AS s"
        "{kept} ORDER BY {order}"
    ).format(
        target=target.identifier,
        columns=_names(target.names),
        key=sql.SQL(", ").join(sql.Identifier("s", name) for name in target.primary_key),
        staged=sql.SQL(", ").join(sql.Identifier("s", name) for name in target.names),
        stage=sql.Identifier(STAGE),
        kept=kept,
        order=sql.SQL(", ").join(order),
    )


def insert_all(target: Target) -> sql.Composed:
    """Insert every staged row in file order (append, or replace without a key)."""
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {}").format(
        target.identifier,
        _names(target.names),
        _names(target.names),
        sql.Identifier(STAGE),
        sql.Identifier(SEQUENCE),
    )


def delete_all(target: Target) -> sql.Composed:
    # DELETE rather than TRUNCATE: TRUNCATE would block every reader of the table for the
    # whole load and is not MVCC-safe for readers with older snapshots.
    # https://www.postgresql.org/docs/15/sql-truncate.html
    return sql.SQL("DELETE FROM {}").format(target.identifier)


def delete_deleted(target: Target) -> sql.Composed:
    return sql.SQL("DELETE FROM {} AS t USING {} AS d WHERE {}").format(
        target.identifier, sql.Identifier(DELETED), _keys_match(target.primary_key, "t", "d")
    )


def _definition(column: Column) -> sql.Composed:
    # warehouse_type returns only vetted built-in type names (see types.py)
    return sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(warehouse_type(column)))


def _names(names: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _keys_match(key: list[str], left: str, right: str) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, name), sql.Identifier(right, name))
        for name in key
    )
