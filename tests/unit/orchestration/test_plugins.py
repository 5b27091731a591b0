import pytest

from handlers.contracts.runtime import RuntimeConfig
from handlers.errors import TerminalError
from handlers.plugins import PackageRegistry
from tests.fakes.flow import connector_spec


def config():
    return RuntimeConfig(
        environment="test",
        connector=connector_spec(),
        schedule="rate(15 minutes)",
        function_timeout_seconds=30,
        staging_expiry_days=7,
        bookkeeping_ttl_days=90,
        redshift_slices=2,
    )


def test_a_type_without_a_package_is_a_terminal_error_that_names_the_package():
    registry = PackageRegistry[object]("handlers.sources", "open_source")

    with pytest.raises(TerminalError, match=r"handlers\.sources\.mysql"):
        registry.open("mysql", config(), None)


def test_a_package_without_the_opener_is_a_terminal_error():
    registry = PackageRegistry[object]("handlers.sources", "open_anything")

    with pytest.raises(TerminalError, match="has no open_anything"):
        registry.open("postgres", config(), None)


def test_a_registered_factory_replaces_the_package_until_removed():
    registry = PackageRegistry[object]("handlers.sources", "open_source")
    registry.register("mysql", lambda config, secret: ("opened", secret))

    assert registry.open("mysql", config(), {"k": "v"}) == ("opened", {"k": "v"})
    registry.register("mysql", None)
    with pytest.raises(TerminalError):
        registry.open("mysql", config(), None)
