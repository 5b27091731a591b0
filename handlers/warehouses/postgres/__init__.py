"""The PostgreSQL warehouse: COPY into a staging table, merge by key, load log, one commit.

`open_warehouse` is what the warehouse registry (handlers.warehouses) calls; `explain_load`
shows the statements of a load for `python main.py explain`.
"""

from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import PostgresDestination
from handlers.errors import TerminalError
from handlers.warehouses.postgres.explain import explain_load
from handlers.warehouses.postgres.loader import PostgresWarehouse

__all__ = ["PostgresWarehouse", "explain_load", "open_warehouse"]


def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> PostgresWarehouse:
    """The connector's PostgreSQL warehouse, connected with the RDS-shaped secret."""
    destination = config.connector.destination
    if not isinstance(destination, PostgresDestination):
        raise TerminalError(f"connector {config.connector.name} does not load into PostgreSQL")
    if secret is None:
        raise TerminalError(
            f"connector {config.connector.name}: the destination secret"
            f" {destination.secret!r} is empty; store the RDS credential JSON"
            " (engine, host, port, username, password, dbname)"
        )
    return PostgresWarehouse(destination, secret)
