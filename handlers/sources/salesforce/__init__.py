"""Salesforce as a Reef source: REST and Bulk API 2.0 reads, incremental by a datetime cursor,
with deletes and an API budget. `SalesforceReader` implements handlers.sources.base.Source.
"""

from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import SalesforceSource
from handlers.errors import TerminalError
from handlers.sources.salesforce.reader import SalesforceReader

__all__ = ["SalesforceReader", "open_source"]


def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> SalesforceReader:
    """The connector's Salesforce org, opened with the secret its spec names."""
    source = config.connector.source
    if not isinstance(source, SalesforceSource):
        raise TerminalError(f"connector {config.connector.name} has no Salesforce source")
    if not secret:
        raise TerminalError(
            f"connector {config.connector.name}: the Salesforce secret {source.secret} is empty;"
            " store the org's credentials in it (see the README's Salesforce section)"
        )
    return SalesforceReader(source, secret)
