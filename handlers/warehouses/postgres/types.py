"""Warehouse column types for the columns sources describe.

A type is composed into DDL, so it is never taken from a source as is: a PostgreSQL type is
parsed and kept only when its base name is one of the built-in types below and its
modifiers are digits; anything else (enums, domains, extension types) lands as text, which
holds its text form unchanged. Types are spelt as `format_type` spells them, so that the
type of an existing column, read back from the catalog, compares equal.
"""

import re

from handlers.contracts.batch import Column

TEXT = "text"

_POSTGRES_BASES = {
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean",
    "text", "character varying", "character", "\"char\"", "name", "date", "time",
    "timestamp", "interval", "uuid", "json", "jsonb", "bytea", "inet", "cidr", "macaddr",
    "macaddr8", "money", "bit", "bit varying", "xml", "tsvector", "tsquery", "oid", "point",
    "line", "lseg", "box", "path", "polygon", "circle", "int4range", "int8range", "numrange",
    "tsrange", "tstzrange", "daterange", "pg_lsn",
}  # fmt: skip
_POSTGRES_TYPE = re.compile(
    r"(?P<base>[a-z\" ]+?)"
    r"(?P<modifiers>\(\d+(?:,\d+)?\))?"
    r"(?P<zone> with(?:out)? time zone)?"
    r"(?P<fields> (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?"
    r"(?P<precision>\(\d+\))?"
    r"(?P<array>(?:\[\])*)"
)

# Salesforce field types (the `type` of a describe result). Numbers land as numeric because
# Salesforce currency and percent values are decimal; ids are 18 characters.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm
_SALESFORCE = {
    "id": "character varying(18)",
    "reference": "character varying(18)",
    "boolean": "boolean",
    "int": "bigint",
    "long": "bigint",
    "double": "numeric",
    "currency": "numeric",
    "percent": "numeric",
    "date": "date",
    "datetime": "timestamp with time zone",
    "time": "time without time zone",
}

# The column types of a stream table (handlers.contracts.spec.ColumnType).
_STREAM = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "numeric": "numeric",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp with time zone",
    "json": "jsonb",
}


def warehouse_type(column: Column) -> str:
    """The warehouse type of a source column, spelt as the catalog spells it."""
    if column.source_type == "postgres":
        return _postgres(column.type)
    if column.source_type == "salesforce":
        return _SALESFORCE.get(column.type.lower(), TEXT)
    return _STREAM.get(column.type, TEXT)


def _postgres(type_: str) -> str:
    match = _POSTGRES_TYPE.fullmatch(type_)
    if match is None or match["base"] not in _POSTGRES_BASES:
        return TEXT
    return type_
