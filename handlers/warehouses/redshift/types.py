"""Redshift column types for the columns sources describe, and for the columns Redshift has.

A type is composed into DDL, so it is never taken from a source as is: every source type is
parsed and mapped onto a fixed set of Redshift types, and anything unknown (enums, domains,
extension types) lands as VARCHAR, which holds its text form unchanged.

Redshift measures CHAR and VARCHAR lengths in bytes, not characters, and UTF-8 needs up to
four bytes a character, so a length in characters becomes four times as many bytes, capped
at VARCHAR's maximum of 65535 bytes. A longer value fails the batch unless the destination
sets truncate_values.
https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html
"""

import re
from dataclasses import dataclass

from handlers.contracts.batch import Column

# https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html
MAX_VARCHAR_BYTES = 65535
UTF8_MAX_BYTES_PER_CHARACTER = 4
# https://docs.aws.amazon.com/redshift/latest/dg/r_Numeric_types201.html
MAX_NUMERIC_PRECISION = 38
# VARBYTE holds up to 1,024,000 bytes.
# https://docs.aws.amazon.com/redshift/latest/dg/r_VARBYTE_type.html
MAX_VARBYTE_BYTES = 1_024_000

_SIZED = {"VARCHAR", "CHAR", "VARBYTE"}


@dataclass(frozen=True)
class RedshiftType:
    """A Redshift column type: a base name and its size (length, or precision and scale)."""

    base: str
    size: tuple[int, ...] = ()

    def __str__(self) -> str:
        if not self.size:
            return self.base
        return f"{self.base}({','.join(str(part) for part in self.size)})"

    def holds(self, other: "RedshiftType") -> bool:
        """True when every value of `other` fits a column of this type unchanged."""
        if self.base != other.base:
            return False
        if not self.size or not other.size:
            return True  # the catalog does not say (VARBYTE, SUPER): the same base is enough
        if self.base in _SIZED:
            return self.size[0] >= other.size[0]
        if self.base == "NUMERIC":
            precision, scale = self.size
            other_precision, other_scale = other.size
            return scale == other_scale and precision - scale >= other_precision - other_scale
        return self.size == other.size


def varchar(characters: int | None) -> RedshiftType:
    """VARCHAR with room for `characters` UTF-8 characters (the maximum when None)."""
    if characters is None:
        return RedshiftType("VARCHAR", (MAX_VARCHAR_BYTES,))
    nbytes = min(max(characters, 1) * UTF8_MAX_BYTES_PER_CHARACTER, MAX_VARCHAR_BYTES)
    return RedshiftType("VARCHAR", (nbytes,))


def numeric(precision: int, scale: int) -> RedshiftType:
    """NUMERIC with the source's precision and scale, within Redshift's 38 digits."""
    if precision <= MAX_NUMERIC_PRECISION:
        return RedshiftType("NUMERIC", (precision, scale))
    # keep every fraction digit; values with more integer digits than remain fail the batch
    return RedshiftType("NUMERIC", (MAX_NUMERIC_PRECISION, min(scale, MAX_NUMERIC_PRECISION)))


TEXT = varchar(None)
# An unconstrained PostgreSQL numeric, or a Salesforce number (at most 18 digits in all):
# 20 integer digits hold any bigint, 18 fraction digits any Salesforce scale. Redshift's own
# default, NUMERIC(18,0), would silently drop fractions.
UNCONSTRAINED_NUMERIC = RedshiftType("NUMERIC", (MAX_NUMERIC_PRECISION, 18))
SUPER = RedshiftType("SUPER")
BOOLEAN = RedshiftType("BOOLEAN")
SMALLINT = RedshiftType("SMALLINT")
INTEGER = RedshiftType("INTEGER")
BIGINT = RedshiftType("BIGINT")
REAL = RedshiftType("REAL")
DOUBLE = RedshiftType("DOUBLE PRECISION")
DATE = RedshiftType("DATE")
TIMESTAMP = RedshiftType("TIMESTAMP")
TIMESTAMPTZ = RedshiftType("TIMESTAMPTZ")
TIME = RedshiftType("TIME")
TIMETZ = RedshiftType("TIMETZ")

_POSTGRES_TYPE = re.compile(
    r"(?P<base>[a-z\" ]+?)"
    r"(?:\((?P<first>\d+)(?:,(?P<second>\d+))?\))?"
    r"(?P<zone> with(?:out)? time zone)?"
    r"(?P<fields> (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?"
    r"(?:\(\d+\))?"
    r"(?P<array>(?:\[\])*)"
)

# PostgreSQL types with one Redshift type whatever their modifiers.
_POSTGRES_FIXED = {
    "smallint": SMALLINT,
    "integer": INTEGER,
    "bigint": BIGINT,
    "oid": BIGINT,
    "real": REAL,
    "double precision": DOUBLE,
    "boolean": BOOLEAN,
    "date": DATE,
    "json": SUPER,
    "jsonb": SUPER,
    # Redshift reads VARBYTE from CSV as hexadecimal text. Shortcoming: PostgreSQL writes
    # bytea as "\x0102..."; whether COPY accepts the "\x" prefix is untested against a real
    # Redshift, and if not, the PostgreSQL source must write bytea without it (encode(hex)).
    "bytea": RedshiftType("VARBYTE", (MAX_VARBYTE_BYTES,)),
    "uuid": RedshiftType("CHAR", (36,)),
    # Redshift's INTERVAL types hold either year-month or day-second, never both, and COPY
    # does not read PostgreSQL's interval text ("1 year 2 mons 3 days 04:05:06"); the text
    # form keeps every interval exactly and casts to an interval in a query.
    "interval": varchar(48),
    "inet": varchar(43),
    "cidr": varchar(43),
    "macaddr": varchar(17),
    "macaddr8": varchar(23),
    "money": varchar(32),
    "name": varchar(63),
    '"char"': varchar(1),
    "pg_lsn": varchar(17),
}

# Salesforce field types (the `type` of a describe result); a length, when the source knows
# it, follows in parentheses ("string(80)"). Numbers are decimal (currency, percent) with at
# most 18 digits; ids and references are 18 characters; compound fields are JSON objects.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm
_SALESFORCE_FIXED = {
    "id": RedshiftType("CHAR", (18,)),
    "reference": RedshiftType("CHAR", (18,)),
    "boolean": BOOLEAN,
    "int": BIGINT,
    "long": BIGINT,
    "double": UNCONSTRAINED_NUMERIC,
    "currency": UNCONSTRAINED_NUMERIC,
    "percent": UNCONSTRAINED_NUMERIC,
    "date": DATE,
    "datetime": TIMESTAMPTZ,
    # Salesforce writes times as "13:45:00.000Z"
    "time": TIMETZ,
    "address": SUPER,
    "location": SUPER,
}
# Text fields without a known length get the longest length Salesforce allows for the type.
_SALESFORCE_TEXT_CHARACTERS = {
    "string": 255,
    "picklist": 255,
    "combobox": 255,
    "url": 255,
    "email": 80,
    "phone": 40,
    "encryptedstring": 175,
    "multipicklist": 4099,
}
_SALESFORCE_TYPE = re.compile(r"(?P<base>[a-z]+)(?:\((?P<length>\d+)\))?")

# The column types of a stream table (handlers.contracts.spec.ColumnType).
_STREAM = {
    "text": TEXT,
    "integer": INTEGER,
    "bigint": BIGINT,
    "numeric": UNCONSTRAINED_NUMERIC,
    "double": DOUBLE,
    "boolean": BOOLEAN,
    "date": DATE,
    "timestamptz": TIMESTAMPTZ,
    "json": SUPER,
}


def redshift_type(column: Column) -> RedshiftType:
    """The Redshift type of a source column."""
    if column.source_type == "postgres":
        return _postgres(column.type.strip().lower())
    if column.source_type == "salesforce":
        return _salesforce(column.type.strip().lower())
    return _STREAM.get(column.type, TEXT)


def _postgres(type_: str) -> RedshiftType:
    match = _POSTGRES_TYPE.fullmatch(type_)
    if match is None:
        return TEXT
    if match["array"]:
        # PostgreSQL writes arrays in its own text form ({1,2}), kept as a SUPER string
        return SUPER
    return _POSTGRES_FIXED.get(match["base"]) or _postgres_modified(match)


def _postgres_modified(match: re.Match[str]) -> RedshiftType:
    base, first, second = match["base"], match["first"], match["second"]
    zoned = match["zone"] == " with time zone"
    if base in ("character varying", "character", "bit", "bit varying"):
        return varchar(int(first) if first else None)
    if base == "numeric":
        return numeric(int(first), int(second or 0)) if first else UNCONSTRAINED_NUMERIC
    if base == "timestamp":
        return TIMESTAMPTZ if zoned else TIMESTAMP
    if base == "time":
        return TIMETZ if zoned else TIME
    return TEXT


def _salesforce(type_: str) -> RedshiftType:
    match = _SALESFORCE_TYPE.fullmatch(type_)
    if match is None:
        return TEXT
    base, length = match["base"], match["length"]
    if base in _SALESFORCE_FIXED:
        return _SALESFORCE_FIXED[base]
    if length is not None:
        return varchar(int(length))
    if base in _SALESFORCE_TEXT_CHARACTERS:
        return varchar(_SALESFORCE_TEXT_CHARACTERS[base])
    # textarea (up to 131,072 characters), base64, anyType: as much as VARCHAR holds
    return TEXT


# Type names as SVV_COLUMNS and information_schema spell them.
_CATALOG_NAMES = {
    "character varying": "VARCHAR",
    "character": "CHAR",
    "numeric": "NUMERIC",
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "real": "REAL",
    "double precision": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "time without time zone": "TIME",
    "time with time zone": "TIMETZ",
    "super": "SUPER",
    "binary varying": "VARBYTE",
    "varbyte": "VARBYTE",
}


def catalog_type(
    data_type: str,
    character_maximum_length: int | None,
    numeric_precision: int | None,
    numeric_scale: int | None,
) -> RedshiftType:
    """The type of an existing column, from its SVV_COLUMNS (information_schema) row."""
    base = _CATALOG_NAMES.get(data_type.strip().lower(), data_type.strip().upper())
    if base in _SIZED and character_maximum_length is not None:
        return RedshiftType(base, (character_maximum_length,))
    if base == "NUMERIC" and numeric_precision is not None:
        return RedshiftType(base, (numeric_precision, numeric_scale or 0))
    return RedshiftType(base)
