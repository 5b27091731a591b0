"""Databases on the test PostgreSQL server, and the secrets that name them."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2

from generator.local.postgres import PostgresServer


def rds_secret(dsn: str) -> dict[str, Any]:
    """The secret, in the JSON shape of RDS credentials, of a libpq key=value DSN."""
    parts = dict(item.split("=", 1) for item in dsn.split())
    return {
        "engine": "postgres",
        "host": parts["host"],
        "port": int(parts["port"]),
        "username": parts["user"],
        "password": parts.get("password", ""),
        "dbname": parts["dbname"],
    }


@contextmanager
def fresh_database(server: PostgresServer, name: str) -> Iterator[str]:
    """A new, empty database of that name (dropped first if left over); dropped after."""
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.dsn_for(name)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(server: PostgresServer, statement: str) -> None:
    connection = psycopg2.connect(server.dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()
