"""Fixtures: the Salesforce stand-in over HTTPS, readers of it, and PostgreSQL merge tables."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handlers.contracts.spec import SalesforceSource
from handlers.sources.salesforce import SalesforceReader
from tests.integration.salesforce.harness import MergeTable, source_spec
from tests.standins.salesforce import StandIn
from tests.standins.salesforce.fixtures import org, standin, standin_certificate

__all__ = ["org", "standin", "standin_certificate"]


@pytest.fixture
def reader_for(standin: StandIn) -> Iterator[Callable[..., SalesforceReader]]:
    """Open readers on the stand-in with the password flow; closed after the test."""
    opened: list[SalesforceReader] = []

    def open_reader(spec: SalesforceSource | None = None, **options: Any) -> SalesforceReader:
        reader = SalesforceReader(spec or source_spec(), standin.password_secret(), **options)
        opened.append(reader)
        return reader

    yield open_reader
    for reader in opened:
        reader.close()


@pytest.fixture
def merge_table(postgres_dsn: str) -> Iterator[Callable[[list[Any]], MergeTable]]:
    tables: list[MergeTable] = []

    def create(columns: list[Any]) -> MergeTable:
        tables.append(MergeTable(postgres_dsn, columns))
        return tables[-1]

    yield create
    for table in tables:
        table.close()
