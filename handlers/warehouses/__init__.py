"""Warehouses, one package per spec type (postgres, redshift), and how to open one.

Each warehouse package exposes

    def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> Warehouse

where `config` is the connector's runtime config document and `secret` the parsed JSON of
the secret that the spec names (None when the spec names none). Tests register factories of
their own with `register_warehouse` in place of a package.
"""

from typing import Any

from handlers.contracts.runtime import RuntimeConfig
from handlers.plugins import Factory, PackageRegistry
from handlers.warehouses.base import Warehouse

_warehouses = PackageRegistry[Warehouse](__name__, "open_warehouse")


def register_warehouse(warehouse_type: str, factory: Factory[Warehouse] | None) -> None:
    """Use `factory` for specs of `warehouse_type` (None removes it); for tests and plug-ins."""
    _warehouses.register(warehouse_type, factory)


def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> Warehouse:
    """The warehouse of the connector in `config`, opened with its secret."""
    return _warehouses.open(config.connector.destination.type, config, secret)
