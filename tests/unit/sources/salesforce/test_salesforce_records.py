"""Records written as PostgreSQL CSV: NULL unquoted and empty, empty strings quoted."""

import io

from handlers.sources.salesforce.describe import Field, ObjectShape
from handlers.sources.salesforce.records import bulk_rows, encode, rest_rows, write_rows

SHAPE = ObjectShape(
    name="Account",
    fields=[
        Field("Id", "id", False, None),
        Field("Name", "string", True, None),
        Field("IsDeleted", "boolean", False, None),
        Field("SystemModstamp", "datetime", False, None),
    ],
    has_is_deleted=True,
)


def test_null_and_empty_string_are_told_apart():
    assert encode(None) == ""
    assert encode("") == '""'


def test_values_with_separators_quotes_or_newlines_are_quoted():
    assert encode('a,"b"\nc') == '"a,""b""\nc"'
    assert encode("\\.") == '"\\."'
    assert encode("plain") == "plain"


def test_booleans_are_written_as_postgres_reads_them():
    assert (encode(True), encode(False)) == ("true", "false")


def test_rest_and_bulk_records_give_the_same_bytes():
    rest = [
        {
            "attributes": {"type": "Account"},
            "Id": "001000000000001AAA",
            "Name": None,
            "IsDeleted": False,
            "SystemModstamp": "2026-01-05T09:00:00.000+0000",
        }
    ]
    bulk = (
        '"SystemModstamp","Id","Name","IsDeleted"\n'
        '"2026-01-05T09:00:00.000Z","001000000000001AAA",,"false"\n'
    )
    from_rest, from_bulk = io.BytesIO(), io.BytesIO()

    write_rows(from_rest, rest_rows(rest, SHAPE))
    write_rows(from_bulk, bulk_rows(bulk, SHAPE))

    assert from_rest.getvalue() == from_bulk.getvalue()
    assert from_rest.getvalue() == b"001000000000001AAA,,false,2026-01-05T09:00:00.000Z\n"
