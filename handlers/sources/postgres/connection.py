"""Connections to PostgreSQL and the one place where psycopg2's errors become Reef's.

The PostgreSQL warehouse uses this module too: both sides speak to the server with the same
driver, the same session settings and the same idea of which failures are worth a retry.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errorcodes
import psycopg2.extensions
from psycopg2 import sql

from handlers.errors import TerminalError, TransientError

# Fixed output formats, so that the CSV text of dates, intervals and bytea does not depend on
# the server's or the role's defaults, and the source and the warehouse agree on it.
# https://www.postgresql.org/docs/15/runtime-config-client.html
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres"
    " -c bytea_output=hex -c extra_float_digits=1 -c client_encoding=UTF8"
)

# SQLSTATE classes and codes that pass on their own: the connection dropped, the server is
# restarting or short of resources, a lock or statement timeout, a serialization failure.
# https://www.postgresql.org/docs/15/errcodes-appendix.html
_TRANSIENT_CLASSES = {"08", "40", "53", "57"}
_TRANSIENT_CODES = {
    psycopg2.errorcodes.LOCK_NOT_AVAILABLE,
    psycopg2.errorcodes.QUERY_CANCELED,
}
_TERMINAL_IN_TRANSIENT_CLASSES = {psycopg2.errorcodes.PROGRAM_LIMIT_EXCEEDED}
# libpq reports a refused login without a SQLSTATE; these phrases mean a retry cannot help.
_TERMINAL_CONNECT_PHRASES = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
)


def connect(secret: dict[str, Any], application_name: str) -> psycopg2.extensions.connection:
    """A connection from an RDS-shaped secret (host, port, username, password, dbname)."""
    missing = [name for name in ("host", "username", "dbname") if not secret.get(name)]
    if missing:
        raise TerminalError(
            f"the database secret lacks {', '.join(missing)}; store the RDS credential JSON"
            " (engine, host, port, username, password, dbname) in the secret"
        )
    with translated_errors(f"connecting to database {secret['dbname']!r} on {secret['host']}"):
        return psycopg2.connect(
            host=secret["host"],
            port=int(secret.get("port") or 5432),
            user=secret["username"],
            password=secret.get("password") or None,
            dbname=secret["dbname"],
            application_name=application_name,
            connect_timeout=10,
            options=SESSION_OPTIONS,
        )


@contextmanager
def translated_errors(doing: str) -> Iterator[None]:
    """Re-raise psycopg2 errors as TransientError or TerminalError, saying what was being done."""
    try:
        yield
    except psycopg2.Error as error:
        raise classify(error, doing) from error


def classify(error: psycopg2.Error, doing: str) -> TransientError | TerminalError:
    """The Reef error for a driver error; the message never carries row data or secrets."""
    code = error.pgcode or ""
    detail = (error.pgerror or str(error)).strip().splitlines()[0] if str(error) else ""
    message = f"{doing}: {detail}" + (f" (SQLSTATE {code})" if code else "")
    if code in _TERMINAL_IN_TRANSIENT_CLASSES:
        return TerminalError(message)
    if code in _TRANSIENT_CODES or code[:2] in _TRANSIENT_CLASSES:
        return TransientError(message)
    if not code and isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        if any(phrase in detail for phrase in _TERMINAL_CONNECT_PHRASES):
            return TerminalError(message)
        return TransientError(message)
    return TerminalError(message)


def render(statement: sql.Composable) -> str:
    """The text of a composed statement without a server, for `reef explain` and logs.

    psycopg2 quotes identifiers through libpq, which needs a live connection; this renders
    the same quoting rules (double quotes, inner quotes doubled) and shows placeholders as
    written, so a reviewer reads exactly the statement that will run, less its parameters.
    """
    if isinstance(statement, sql.Composed):
        return "".join(render(part) for part in statement.seq)
    if isinstance(statement, sql.SQL):
        return str(statement.string)
    if isinstance(statement, sql.Identifier):
        return ".".join('"' + name.replace('"', '""') + '"' for name in statement.strings)
    if isinstance(statement, sql.Placeholder):
        return f"%({statement.name})s" if statement.name else "%s"
    if isinstance(statement, sql.Literal):
        return _literal(statement.wrapped)
    raise TypeError(f"cannot render {type(statement).__name__}")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + str(value).replace("'", "''") + "'"
