"""Pytest fixtures of the Salesforce stand-in, for every test folder that needs an org.

A conftest imports them by name (`from tests.standins.salesforce.fixtures import ...`), as
tests/conftest.py does with the deployment fixtures.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.salesforce.org import Org
from tests.standins.salesforce.server import StandIn, write_certificate


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
