"""Fixtures every test may use: an isolated AWS environment and a real PostgreSQL server."""

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.local.postgres import PostgresServer, PostgresUnavailable, free_port
from tests.fakes.databases import fresh_database

# the moto server and the local stacks applied into it once per session, shared from here
# by tests/integration/terraform and tests/integration/local
from tests.integration.terraform.deployment import emulator_endpoint, local_deployment

__all__ = ["emulator_endpoint", "local_deployment"]

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def isolated_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real AWS account: fake credentials, a fixed region, no profile."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # a local environment a developer left running is never reached by accident
    monkeypatch.setenv("REEF_LOCAL_DIR", os.path.join(tempfile.gettempdir(), "reef-no-local"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server per test process, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="reef-pg-") as folder:
        os.chmod(folder, 0o755)  # the server may run as the postgres user
        server = PostgresServer(Path(folder) / "data", free_port())
        try:
            server.start()
        except PostgresUnavailable as missing:
            pytest.skip(str(missing))
        yield server
        server.stop()


_database_numbers = itertools.count()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the test server; dropped after the test."""
    with fresh_database(postgres_server, f"test_{os.getpid()}_{next(_database_numbers)}") as dsn:
        yield dsn
