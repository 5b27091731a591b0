"""The PostgreSQL source: tables read full or incrementally, in keyset chunks, with COPY.

`open_source` is what the source registry (handlers.sources) calls; `explain_extract` shows
the statements of an extraction for `python main.py explain`.
"""

from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import PostgresSource as PostgresSourceSpec
from handlers.errors import TerminalError
from handlers.sources.postgres.explain import explain_extract
from handlers.sources.postgres.source import PostgresSource

__all__ = ["PostgresSource", "explain_extract", "open_source"]


def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> PostgresSource:
    """The connector's PostgreSQL source, connected with the RDS-shaped secret."""
    spec = config.connector.source
    if not isinstance(spec, PostgresSourceSpec):
        raise TerminalError(f"connector {config.connector.name} does not read from PostgreSQL")
    if secret is None:
        raise TerminalError(
            f"connector {config.connector.name}: the source secret {spec.secret!r} is empty;"
            " store the RDS credential JSON (engine, host, port, username, password, dbname)"
        )
    return PostgresSource(spec, secret)
