"""The statements the PostgreSQL source runs, composed with psycopg2's `sql` module.

Every identifier goes through `sql.Identifier`; every value (bounds, keyset positions,
limits) through `sql.Literal`, which the driver quotes. Values are bound as literals rather
than `%s` parameters because `COPY` takes no parameters, and because a source column name may
contain `%`, which psycopg2 would read as a placeholder.

Chunks are found by keyset: an index-friendly `ORDER BY key LIMIT n` subquery yields the
chunk's last key, then `COPY` reads the rows up to it. No OFFSET, so the cost of a chunk does
not grow with its place in the table.
"""

from psycopg2 import sql

from handlers.contracts.batch import Bounds
from handlers.contracts.spec import PostgresTable

# Column names, formatted types and nullability in table order; the values are parameters.
COLUMNS = sql.SQL(
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull"
    " FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
    " AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY a.attnum"
)


def order_key(table: PostgresTable) -> list[str]:
    """The columns a unit is read in order of: (cursor, primary key) or the primary key."""
    if table.cursor is None:
        return list(table.primary_key)
    return [table.cursor, *(name for name in table.primary_key if name != table.cursor)]


def max_cursor(table: PostgresTable) -> sql.Composed:
    """The cursor's current maximum as text: the upper bound of a new batch."""
    assert table.cursor is not None
    return sql.SQL("SELECT max({cursor})::text FROM {table}").format(
        cursor=sql.Identifier(table.cursor), table=_table(table)
    )


def chunk_end(table: PostgresTable, bounds: Bounds, after: list[str] | None) -> sql.Composed:
    """The last key of the next chunk (as text) and the chunk's row count, or no row at all."""
    key = order_key(table)
    return sql.SQL(
        "SELECT {key_text}, count(*) OVER () FROM"
        " (SELECT {key} FROM {table} WHERE {where} ORDER BY {key} LIMIT {limit}) AS chunk"
        " ORDER BY {key_desc} LIMIT 1"
    ).format(
        limit=sql.Literal(table.chunk_rows),
        key_text=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key),
        key=_names(key),
        table=_table(table),
        where=_range(table, bounds, after),
        # qualified, so that ORDER BY sorts the key's values, not their text output columns
        key_desc=sql.SQL(", ").join(
            sql.SQL("{} DESC").format(sql.Identifier("chunk", k)) for k in key
        ),
    )


def copy_chunk(
    table: PostgresTable,
    columns: list[str],
    bounds: Bounds,
    after: list[str] | None,
    through: list[str],
) -> sql.Composed:
    """`COPY (SELECT ...) TO STDOUT` of the rows after `after` up to and including `through`."""
    return copy_rows(table, _names(columns), bounds, after, through)


def copy_rows(
    table: PostgresTable,
    columns: sql.Composable,
    bounds: Bounds,
    after: list[str] | None,
    through: list[str],
) -> sql.Composed:
    """`copy_chunk` with the select list composed already (`reef explain` shows a marker)."""
    key = order_key(table)
    return sql.SQL(
        "COPY (SELECT {columns} FROM {table} WHERE {where} AND ({key}) <= ({through})"
        " ORDER BY {key}) TO STDOUT WITH (FORMAT csv)"
    ).format(
        columns=columns,
        table=_table(table),
        where=_range(table, bounds, after),
        key=_names(key),
        through=_literals(through),
    )


def _range(table: PostgresTable, bounds: Bounds, after: list[str] | None) -> sql.Composable:
    conditions: list[sql.Composable] = []
    if table.cursor is not None and bounds.lower is not None:
        conditions.append(
            sql.SQL("{} {} {}").format(
                sql.Identifier(table.cursor),
                sql.SQL(">=" if bounds.lower_inclusive else ">"),
                sql.Literal(bounds.lower),
            )
        )
    if table.cursor is not None and bounds.upper is not None:
        conditions.append(
            sql.SQL("{} <= {}").format(sql.Identifier(table.cursor), sql.Literal(bounds.upper))
        )
    if after is not None:
        key = order_key(table)
        conditions.append(sql.SQL("({}) > ({})").format(_names(key), _literals(after)))
    if not conditions:
        return sql.SQL("true")
    return sql.SQL(" AND ").join(conditions)


def _table(table: PostgresTable) -> sql.Identifier:
    return sql.Identifier(table.schema_, table.table)


def _names(names: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _literals(values: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Literal(value) for value in values)
