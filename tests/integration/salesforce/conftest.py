"""Fixtures: the Salesforce stand-in over HTTPS, readers of it, and PostgreSQL merge tables."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.contracts.spec import SalesforceSource
from handlers.sources.salesforce import SalesforceReader
from tests.integration.salesforce.harness import MergeTable, source_spec
from tests.standins.salesforce import Org, StandIn, write_certificate


@pytest.fixture(scope="session")
def standin_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_certificate(tmp_path_factory.mktemp("salesforce-standin"))


@pytest.fixture
def standin(
    standin_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[StandIn]:
    """A fresh org behind a running HTTPS stand-in, trusted through REQUESTS_CA_BUNDLE."""
    cert, key = standin_certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = StandIn(Org(), cert, key).start()
    yield server
    server.stop()


@pytest.fixture
def org(standin: StandIn) -> Org:
    return standin.org


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
