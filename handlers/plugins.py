"""Packages chosen by a spec's `type`: sources and warehouses are opened through this.

A registry imports `<package>.<type>` only when a connector needs it, so that a function
never loads a driver its connector does not use, and calls that package's opener. Tests and
plug-ins register factories of their own in place of a package.
"""

import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from handlers.contracts.runtime import RuntimeConfig
from handlers.errors import TerminalError

Opened = TypeVar("Opened")
Factory = Callable[[RuntimeConfig, dict[str, Any] | None], Opened]


class PackageRegistry(Generic[Opened]):
    """The factories of one kind of package (sources, warehouses), by spec type."""

    def __init__(self, package: str, opener: str) -> None:
        self.package = package
        self.opener = opener
        self._registered: dict[str, Factory[Opened]] = {}

    def register(self, spec_type: str, factory: Factory[Opened] | None) -> None:
        """Use `factory` for specs of `spec_type` (None removes it)."""
        if factory is None:
            self._registered.pop(spec_type, None)
        else:
            self._registered[spec_type] = factory

    def open(self, spec_type: str, config: RuntimeConfig, secret: dict[str, Any] | None) -> Opened:
        """Open the package of `spec_type` for the connector in `config`, with its secret."""
        factory = self._registered.get(spec_type) or self._package_factory(spec_type)
        return factory(config, secret)

    def _package_factory(self, spec_type: str) -> Factory[Opened]:
        name = f"{self.package}.{spec_type}"
        try:
            module = importlib.import_module(name)
        except ImportError as missing:
            raise TerminalError(
                f"type {spec_type!r} has no package {name} in this layer ({missing});"
                " deploy a layer built from a Reef version with it"
            ) from missing
        factory = getattr(module, self.opener, None)
        if not callable(factory):
            raise TerminalError(f"{name} has no {self.opener}(config, secret) function")
        return factory  # type: ignore[no-any-return]
