"""Sources, one package per spec type (postgres, salesforce, kinesis), and how to open one.

The registry imports `handlers.sources.<type>` only when a connector needs it, so that a
function never loads a driver its connector does not use. Each source package exposes

    def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> Source

where `config` is the connector's runtime config document and `secret` the parsed JSON of
the secret that the spec names (None when the spec names none). Tests register factories of
their own with `register_source` in place of a package.
"""

import importlib
from collections.abc import Callable
from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.errors import TerminalError
from handlers.sources.base import Source

SourceFactory = Callable[[RuntimeConfig, dict[str, Any] | None], Source]

_registered: dict[str, SourceFactory] = {}


def register_source(source_type: str, factory: SourceFactory | None) -> None:
    """Use `factory` for specs of `source_type` (None removes it); for tests and plug-ins."""
    if factory is None:
        _registered.pop(source_type, None)
    else:
        _registered[source_type] = factory


def open_source(config: RuntimeConfig, secret: dict[str, Any] | None) -> Source:
    """The source of the connector in `config`, opened with its secret."""
    source_type = config.connector.source.type
    factory = _registered.get(source_type) or _package_factory(source_type)
    return factory(config, secret)


def _package_factory(source_type: str) -> SourceFactory:
    try:
        module = importlib.import_module(f"{__name__}.{source_type}")
    except ImportError as missing:
        raise TerminalError(
            f"source type {source_type!r} has no package handlers.sources.{source_type}"
            f" in this layer ({missing}); deploy a layer built from a Reef version with it"
        ) from missing
    factory = getattr(module, "open_source", None)
    if not callable(factory):
        raise TerminalError(
            f"handlers.sources.{source_type} has no open_source(config, secret) function"
        )
    return factory  # type: ignore[no-any-return]
