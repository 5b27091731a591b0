"""Rows written in the batch file format: PostgreSQL CSV (see handlers.contracts.batch).

Every value is quoted and NULL is the only unquoted (empty) field, so that NULL and the
empty string stay apart in every warehouse that reads the files. Python 3.11's csv module
cannot write that (QUOTE_NOTNULL arrived in 3.12), hence this small encoder.
"""

from collections.abc import Iterable, Sequence


def csv_field(value: str | None) -> str:
    """One field: NULL as nothing, any text quoted with its quotes doubled."""
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def csv_line(values: Sequence[str | None]) -> bytes:
    """One row as a UTF-8 line ending in a newline."""
    return (",".join(csv_field(value) for value in values) + "\n").encode("utf-8")


def csv_lines(rows: Iterable[Sequence[str | None]]) -> bytes:
    return b"".join(csv_line(row) for row in rows)
