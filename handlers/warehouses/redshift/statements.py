"""The SQL Reef sends to Redshift, composed from quoted identifiers and checked literals.

Every identifier is double-quoted with embedded quotes doubled. Values go as Data API
parameters (`:name`) wherever the Data API takes them, which is ExecuteStatement only;
BatchExecuteStatement, the one call that runs several statements as one transaction, takes
no parameters, so the load transaction carries its few values (batch identity, S3 URLs, the
COPY role) as string literals, which `literal` refuses to compose unless they are plain.
https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html

The merge, append, replace and load-log statements are plain SQL that PostgreSQL also runs;
the tests run them there.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from handlers.contracts.batch import Manifest
from handlers.warehouses.redshift.types import RedshiftType

# Reef's own tables: the load log lives next to the targets, the staging tables are
# temporary and vanish with the Data API session.
LOAD_LOG = "_reef_load_log"
STAGING = "_reef_staging"
DELETED = "_reef_deleted"
VERSION = "_reef_version"
LATEST = "_reef_latest"
EVENT = "_reef_event"
EVENTS = "_reef_events"

# A literal may hold printable text only: no backslash (Redshift reads it as an escape in a
# string literal) and no control characters.
# https://docs.aws.amazon.com/redshift/latest/dg/r_Literals.html
_PLAIN_LITERAL = re.compile(r"[^\\\x00-\x1f\x7f]*")


def identifier(name: str) -> str:
    """A double-quoted identifier, embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """A schema-qualified, quoted table name."""
    return f"{identifier(schema)}.{identifier(name)}"


def literal(value: str) -> str:
    """A single-quoted string literal; only for places the Data API takes no parameters."""
    if not _PLAIN_LITERAL.fullmatch(value):
        raise ValueError(f"{value!r} holds a backslash or control character; not composable")
    return "'" + value.replace("'", "''") + "'"


def _columns(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + identifier(name) for name in names)


def inspect_columns() -> str:
    """Columns of the target table and of the load log (parameters :schema, :table, :log).

    Redshift folds unquoted and, by default, quoted identifiers to lower case, so names are
    compared in lower case.
    https://docs.aws.amazon.com/redshift/latest/dg/r_names.html
    """
    return (
        'SELECT "table_name", "column_name", "data_type", "character_maximum_length",'
        ' "numeric_precision", "numeric_scale" FROM "svv_columns"'
        ' WHERE LOWER("table_schema") = LOWER(:schema)'
        ' AND LOWER("table_name") IN (LOWER(:table), LOWER(:log))'
        ' ORDER BY "table_name", "ordinal_position"'
    )


def find_batch(schema: str) -> str:
    """The load log row of a batch (parameters :connector, :unit, :batch_id)."""
    return (
        f'SELECT "row_count" FROM {qualified(schema, LOAD_LOG)}'
        ' WHERE "connector" = :connector AND "unit" = :unit AND "batch_id" = :batch_id'
    )


def create_schema(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}"


def create_load_log(schema: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, LOAD_LOG)} ("
        '"connector" VARCHAR(128) NOT NULL, "unit" VARCHAR(256) NOT NULL,'
        ' "timelabel" VARCHAR(64) NOT NULL, "batch_id" VARCHAR(256) NOT NULL,'
        ' "row_count" BIGINT NOT NULL, "loaded_at" TIMESTAMPTZ NOT NULL,'
        ' PRIMARY KEY ("connector", "unit", "batch_id"))'
    )


def create_table(
    schema: str,
    table: str,
    columns: Sequence[tuple[str, RedshiftType]],
    primary_key: Sequence[str],
    *,
    declare_key: bool = True,
) -> str:
    """The target table; key columns are NOT NULL and the key is declared for the planner.

    Redshift does not enforce primary keys but trusts them in planning, so the key is
    declared only where the load keeps it true (merge and replace, not append).
    https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html
    """
    keys = set(primary_key)
    definitions = [
        f"{identifier(name)} {type_}" + (" NOT NULL" if name in keys else "")
        for name, type_ in columns
    ]
    if primary_key and declare_key:
        definitions.append(f"PRIMARY KEY ({_columns(primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {qualified(schema, table)} ({', '.join(definitions)})"


def add_column(schema: str, table: str, name: str, type_: RedshiftType) -> str:
    """One new column; Redshift's ALTER TABLE adds one column a statement."""
    return f"ALTER TABLE {qualified(schema, table)} ADD COLUMN {identifier(name)} {type_}"


def create_staging(staging: str, schema: str, table: str) -> str:
    """A temporary table shaped like the target (columns, distribution and sort keys)."""
    return f"CREATE TEMP TABLE {identifier(staging)} (LIKE {qualified(schema, table)})"


def copy(
    staging: str, columns: Sequence[str], manifest_url: str, role_arn: str, truncate: bool
) -> str:
    """COPY the files a Redshift manifest lists, as Reef writes them: gzip CSV.

    The files are PostgreSQL CSV, where NULL is an unquoted empty field and an empty string
    is "". EMPTYASNULL loads an empty field (two delimiters with nothing between them) into
    a CHAR or VARCHAR column as NULL, and other types load empty fields as NULL anyway; a
    quoted "" is not an empty field, so it stays an empty string.
    https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-conversion.html
    COMPUPDATE OFF and STATUPDATE OFF skip compression analysis and statistics, which only
    cost time on a staging table that lives for one load.
    https://docs.aws.amazon.com/redshift/latest/dg/c_best-practices-single-copy-command.html
    """
    options = [
        f"IAM_ROLE {literal(role_arn)}",
        "MANIFEST",
        "FORMAT AS CSV",
        "GZIP",
        "EMPTYASNULL",
        "DATEFORMAT 'auto'",
        "TIMEFORMAT 'auto'",
        "COMPUPDATE OFF",
        "STATUPDATE OFF",
    ]
    if truncate:
        options.append("TRUNCATECOLUMNS")
    return (
        f"COPY {identifier(staging)} ({_columns(columns)}) FROM {literal(manifest_url)} "
        + " ".join(options)
    )


@dataclass(frozen=True)
class BatchIdentity:
    """What the load log knows of a batch."""

    connector: str
    unit: str
    timelabel: str
    batch_id: str

    @classmethod
    def of(cls, manifest: Manifest) -> "BatchIdentity":
        return cls(manifest.connector, manifest.unit, manifest.timelabel, manifest.batch_id)


def not_loaded(schema: str, batch: BatchIdentity) -> str:
    """A condition true while the batch is not in the load log.

    It guards every change, so that of two deliveries racing past the load-log check, the
    second changes nothing once the first has committed (Redshift's serializable isolation
    aborts the second instead when they overlap, which the load retries).
    """
    return (
        f"NOT EXISTS (SELECT 1 FROM {qualified(schema, LOAD_LOG)}"
        f' WHERE "connector" = {literal(batch.connector)} AND "unit" = {literal(batch.unit)}'
        f' AND "batch_id" = {literal(batch.batch_id)})'
    )


def _key_match(target: str, other: str, primary_key: Sequence[str]) -> str:
    return " AND ".join(
        f"{target}.{identifier(name)} = {identifier(other)}.{identifier(name)}"
        for name in primary_key
    )


def delete_matching(
    schema: str,
    table: str,
    other: str,
    primary_key: Sequence[str],
    *,
    guard: str,
    cursor: str | None = None,
) -> str:
    """Delete the target rows whose key is in `other` (the staging or the deleted keys).

    With a cursor, a target row newer than every staged version of its key stays: a merge
    never replaces a row with an older version of it.
    """
    target = qualified(schema, table)
    older = ""
    if cursor:
        mine, theirs = f"{target}.{identifier(cursor)}", f"{identifier(other)}.{identifier(cursor)}"
        older = f" AND ({mine} IS NULL OR {mine} <= {theirs})"
    return (
        f"DELETE FROM {target} USING {identifier(other)}"
        f" WHERE {_key_match(target, other, primary_key)}{older} AND {guard}"
    )


def staged_rows(columns: Sequence[str], dedup_key: Sequence[str] = ()) -> str:
    """The staging table as the inserts read it: every row, or one row per event id.

    With a dedup key (a stream's event id), rows repeating an id within the batch are
    dropped whatever the write mode, as the PostgreSQL warehouse does. Redshift gives COPY's
    rows no arrival order, so the one kept is any of them; a repeated event is the same
    record delivered again, so its rows are alike. The subquery keeps the staging table's
    name, so the statements around it read the same with or without it.
    """
    if not dedup_key:
        return identifier(STAGING)
    return (
        f"(SELECT {_columns(columns)} FROM (SELECT {_columns(columns)},"
        f" ROW_NUMBER() OVER (PARTITION BY {_columns(dedup_key)}) AS {identifier(EVENT)}"
        f" FROM {identifier(STAGING)}) AS {identifier(EVENTS)}"
        f" WHERE {identifier(EVENT)} = 1) AS {identifier(STAGING)}"
    )


def insert_latest(
    schema: str,
    table: str,
    columns: Sequence[str],
    primary_key: Sequence[str],
    *,
    cursor: str | None,
    guard: str,
    dedup_key: Sequence[str] = (),
) -> str:
    """Insert one row per key from the staging table: the latest version of it.

    The latest is the one with the greatest cursor, and it goes in only where the target
    holds no row of that key any more (the merge's delete kept the rows that are newer).
    Without a cursor the batch holds each key once (a full or keyset-ordered read), and any
    of equal rows will do.

    Shortcoming: a cursorless unit whose batch repeats a key (a stream table with a primary
    key but no event_time_field) keeps an arbitrary one of its versions, because COPY gives
    rows no file or line number to order by; the stream writer would have to add an arrival
    sequence column for the merge to order on.
    """
    target = qualified(schema, table)
    order = f" ORDER BY {identifier(cursor)} DESC" if cursor else ""
    newer_kept = (
        f" AND NOT EXISTS (SELECT 1 FROM {target} WHERE {_key_match(target, LATEST, primary_key)})"
        if cursor
        else ""
    )
    return (
        f"INSERT INTO {target} ({_columns(columns)})"
        f" SELECT {_columns(columns)} FROM (SELECT {_columns(columns)},"
        f" ROW_NUMBER() OVER (PARTITION BY {_columns(primary_key)}{order}) AS {identifier(VERSION)}"
        f" FROM {staged_rows(columns, dedup_key)}) AS {identifier(LATEST)}"
        f" WHERE {identifier(VERSION)} = 1{newer_kept} AND {guard}"
    )


def insert_all(
    schema: str, table: str, columns: Sequence[str], guard: str, dedup_key: Sequence[str] = ()
) -> str:
    """Insert every staged row (append mode), each repeated event once."""
    return (
        f"INSERT INTO {qualified(schema, table)} ({_columns(columns)})"
        f" SELECT {_columns(columns)} FROM {staged_rows(columns, dedup_key)} WHERE {guard}"
    )


def delete_all(schema: str, table: str, guard: str) -> str:
    """Empty the target (replace mode). DELETE, not TRUNCATE: TRUNCATE commits at once.

    https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNCATE.html
    """
    return f"DELETE FROM {qualified(schema, table)} WHERE {guard}"


def record_batch(schema: str, batch: BatchIdentity, rows: int, loaded_at: str) -> str:
    """The batch's load log row, written in the same transaction as its rows."""
    values = ", ".join(
        [
            literal(batch.connector),
            literal(batch.unit),
            literal(batch.timelabel),
            literal(batch.batch_id),
            str(int(rows)),
            f"CAST({literal(loaded_at)} AS TIMESTAMPTZ)",
        ]
    )
    return (
        f"INSERT INTO {qualified(schema, LOAD_LOG)}"
        ' ("connector", "unit", "timelabel", "batch_id", "row_count", "loaded_at")'
        f" SELECT {values} WHERE {not_loaded(schema, batch)}"
    )


@dataclass(frozen=True)
class LoadPlan:
    """Everything one load transaction needs, decided before any statement is composed."""

    schema: str
    table: str
    mode: str
    batch: BatchIdentity
    columns: list[tuple[str, RedshiftType]]
    primary_key: list[str]
    cursor: str | None
    rows: int
    loaded_at: str
    role_arn: str
    truncate: bool
    create: bool
    added_columns: list[tuple[str, RedshiftType]] = field(default_factory=list)
    manifest_url: str | None = None
    deleted_manifest_url: str | None = None
    dedup_key: list[str] = field(default_factory=list)


def load_transaction(plan: LoadPlan) -> list[str]:
    """The statements of one load, in order; BatchExecuteStatement runs them as one transaction.

    https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_BatchExecuteStatement.html
    """
    schema, table = plan.schema, plan.table
    names = [name for name, _ in plan.columns]
    guard = not_loaded(schema, plan.batch)
    statements = [create_schema(schema), create_load_log(schema)]
    if plan.create:
        statements.append(
            create_table(
                schema, table, plan.columns, plan.primary_key, declare_key=plan.mode != "append"
            )
        )
    statements += [add_column(schema, table, name, type_) for name, type_ in plan.added_columns]

    if plan.manifest_url is not None:
        statements.append(create_staging(STAGING, schema, table))
        statements.append(copy(STAGING, names, plan.manifest_url, plan.role_arn, plan.truncate))
    if plan.deleted_manifest_url is not None:
        statements.append(create_staging(DELETED, schema, table))
        statements.append(
            copy(DELETED, plan.primary_key, plan.deleted_manifest_url, plan.role_arn, False)
        )

    if plan.mode == "replace":
        statements.append(delete_all(schema, table, guard))
    if plan.manifest_url is not None:
        if plan.mode == "merge":
            statements.append(
                delete_matching(
                    schema, table, STAGING, plan.primary_key, guard=guard, cursor=plan.cursor
                )
            )
        if plan.mode == "append" or not plan.primary_key:
            statements.append(insert_all(schema, table, names, guard, plan.dedup_key))
        else:
            statements.append(
                insert_latest(
                    schema,
                    table,
                    names,
                    plan.primary_key,
                    cursor=plan.cursor,
                    guard=guard,
                    dedup_key=plan.dedup_key,
                )
            )
    # deletions reported by the source come after its upserts: a key listed as deleted in
    # this batch is gone when the batch is loaded
    if plan.deleted_manifest_url is not None and plan.mode == "merge":
        statements.append(delete_matching(schema, table, DELETED, plan.primary_key, guard=guard))

    statements.append(record_batch(schema, plan.batch, plan.rows, plan.loaded_at))
    return statements


def load_errors(provisioned: bool) -> str:
    """The COPY errors of one query (parameter :query_id), without the rejected data itself.

    A provisioned cluster logs them in STL_LOAD_ERRORS under the query id the Data API
    reports (RedshiftQueryId); Redshift Serverless has only SYS_LOAD_ERROR_DETAIL.
    https://docs.aws.amazon.com/redshift/latest/dg/r_STL_LOAD_ERRORS.html
    https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html
    """
    if provisioned:
        return (
            'SELECT TRIM("filename") AS "file_name", "line_number", TRIM("colname")'
            ' AS "column_name", "err_code" AS "error_code", TRIM("err_reason")'
            ' AS "error_message" FROM "stl_load_errors" WHERE "query" = :query_id'
            ' ORDER BY "line_number" LIMIT 10'
        )
    return (
        'SELECT TRIM("file_name") AS "file_name", "line_number", TRIM("column_name")'
        ' AS "column_name", "error_code", TRIM("error_message") AS "error_message"'
        ' FROM "sys_load_error_detail" WHERE "query_id" = :query_id'
        ' ORDER BY "line_number" LIMIT 10'
    )
