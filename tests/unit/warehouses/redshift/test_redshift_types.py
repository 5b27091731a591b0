"""Source types become Redshift types that hold their values."""

import pytest

from handlers.contracts.batch import Column
from handlers.warehouses.redshift.types import RedshiftType, catalog_type, redshift_type


def _type(source_type: str, type_: str) -> str:
    return str(redshift_type(Column(name="c", type=type_, source_type=source_type)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("postgres", "redshift"),
    [
        ("character varying(10)", "VARCHAR(40)"),  # 10 characters of up to 4 UTF-8 bytes
        ("character varying(20000)", "VARCHAR(65535)"),
        ("character varying", "VARCHAR(65535)"),
        ("text", "VARCHAR(65535)"),
        ("character(3)", "VARCHAR(12)"),
        ("numeric(12,2)", "NUMERIC(12,2)"),
        ("numeric(38,0)", "NUMERIC(38,0)"),
        ("numeric(50,6)", "NUMERIC(38,6)"),
        ("numeric", "NUMERIC(38,18)"),
        ("json", "SUPER"),
        ("jsonb", "SUPER"),
        ("integer[]", "SUPER"),
        ("character varying(5)[]", "SUPER"),
        ("timestamp with time zone", "TIMESTAMPTZ"),
        ("timestamp(3) without time zone", "TIMESTAMP"),
        ("time with time zone", "TIMETZ"),
        ("bytea", "VARBYTE(1024000)"),
        ("uuid", "CHAR(36)"),
        ("interval", "VARCHAR(192)"),
        ("bigint", "BIGINT"),
        ("double precision", "DOUBLE PRECISION"),
        ("boolean", "BOOLEAN"),
        ("mood", "VARCHAR(65535)"),  # an enum: its text
        ("text); drop table x; --", "VARCHAR(65535)"),  # never pasted into DDL
    ],
)
def test_postgres_types_map_to_redshift_types(postgres: str, redshift: str) -> None:
    assert _type("postgres", postgres) == redshift


@pytest.mark.parametrize(
    ("salesforce", "redshift"),
    [
        ("id", "CHAR(18)"),
        ("reference", "CHAR(18)"),
        ("string", "VARCHAR(1020)"),
        ("string(80)", "VARCHAR(320)"),
        ("textarea", "VARCHAR(65535)"),
        ("picklist", "VARCHAR(1020)"),
        ("currency", "NUMERIC(38,18)"),
        ("datetime", "TIMESTAMPTZ"),
        ("boolean", "BOOLEAN"),
        ("address", "SUPER"),
        ("int", "BIGINT"),
    ],
)
def test_salesforce_types_map_to_redshift_types(salesforce: str, redshift: str) -> None:
    assert _type("salesforce", salesforce) == redshift


def test_stream_column_types_map_to_redshift_types() -> None:
    assert _type("stream", "json") == "SUPER"
    assert _type("stream", "timestamptz") == "TIMESTAMPTZ"
    assert _type("stream", "text") == "VARCHAR(65535)"


def test_a_wider_column_holds_a_narrower_type_but_not_the_reverse() -> None:
    wide, narrow = RedshiftType("VARCHAR", (400,)), RedshiftType("VARCHAR", (40,))
    assert wide.holds(narrow)
    assert not narrow.holds(wide)
    assert not RedshiftType("BIGINT").holds(narrow)
    assert RedshiftType("NUMERIC", (14, 2)).holds(RedshiftType("NUMERIC", (12, 2)))
    assert not RedshiftType("NUMERIC", (12, 2)).holds(RedshiftType("NUMERIC", (12, 4)))


def test_catalog_rows_read_back_as_the_types_reef_creates() -> None:
    assert catalog_type("character varying", 40, None, None) == RedshiftType("VARCHAR", (40,))
    assert catalog_type("numeric", None, 12, 2) == RedshiftType("NUMERIC", (12, 2))
    assert catalog_type("timestamp with time zone", None, None, None) == RedshiftType("TIMESTAMPTZ")
    assert catalog_type("super", None, None, None) == RedshiftType("SUPER")
