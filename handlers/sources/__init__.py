"""Sources, one package per spec type (postgres, salesforce, kinesis), and how to open one.

Each source package exposes

    def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> Source

where `config` is the connector's runtime config document and `secret` the parsed JSON of
the secret that the spec names (None when the spec names none). Tests register factories of
their own with `register_source` in place of a package.
"""

from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.plugins import Factory, PackageRegistry
from handlers.sources.base import Source

_sources = PackageRegistry[Source](__name__, "open_source")


def register_source(source_type: str, factory: Factory[Source] | None) -> None:
    """Use `factory` for specs of `source_type` (None removes it); for tests and plug-ins."""
    _sources.register(source_type, factory)


def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> Source:
    """The source of the connector in `config`, opened with its secret."""
    return _sources.open(config.connector.source.type, config, secret)
