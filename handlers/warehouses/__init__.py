"""Warehouses, one package per spec type (postgres, redshift), and how to open one.

The registry imports `handlers.warehouses.<type>` only when a connector needs it, so that a
function never loads a driver its connector does not use. Each warehouse package exposes

    def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> Warehouse

where `config` is the connector's runtime config document and `secret` the parsed JSON of
the secret that the spec names (None when the spec names none). Tests register factories of
their own with `register_warehouse` in place of a package.
"""

import importlib
from collections.abc import Callable
from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.errors import TerminalError
from handlers.warehouses.base import Warehouse

WarehouseFactory = Callable[[RuntimeConfig, dict[str, Any] | None], Warehouse]

_registered: dict[str, WarehouseFactory] = {}


def register_warehouse(warehouse_type: str, factory: WarehouseFactory | None) -> None:
    """Use `factory` for specs of `warehouse_type` (None removes it); for tests and plug-ins."""
    if factory is None:
        _registered.pop(warehouse_type, None)
    else:
        _registered[warehouse_type] = factory


def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> Warehouse:
    """The warehouse of the connector in `config`, opened with its secret."""
    warehouse_type = config.connector.destination.type
    factory = _registered.get(warehouse_type) or _package_factory(warehouse_type)
    return factory(config, secret)


def _package_factory(warehouse_type: str) -> WarehouseFactory:
    try:
        module = importlib.import_module(f"{__name__}.{warehouse_type}")
    except ImportError as missing:
        raise TerminalError(
            f"warehouse type {warehouse_type!r} has no package handlers.warehouses.{warehouse_type}"
            f" in this layer ({missing}); deploy a layer built from a Reef version with it"
        ) from missing
    factory = getattr(module, "open_warehouse", None)
    if not callable(factory):
        raise TerminalError(
            f"handlers.warehouses.{warehouse_type} has no open_warehouse(config, secret) function"
        )
    return factory  # type: ignore[no-any-return]
