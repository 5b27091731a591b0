"""`reef explain`: the statements each unit of a connector would run, for a reviewer to read.

For every unit it prints the source's extraction statements and the warehouse's load
statements, as the handlers compose them. A source or warehouse package takes part by
exposing `explain_extract(source_spec, unit)` or `explain_load(destination_spec, unit,
columns, primary_key, *, cursor, mode)`; a package without one is named as such.

No database is reached: a PostgreSQL table's other columns and every column type are read
from the source's catalog at run time, so the load statements show the key and cursor
columns only, typed as text. Values known only at run time appear as <markers> or %(name)s.
"""

import importlib
from collections.abc import Callable
from typing import Any

from handlers.contracts.batch import Column
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresSource,
    SalesforceSource,
)


def explain_connector(spec: ConnectorSpec) -> str:
    """The text `reef explain` prints for one connector."""
    sections = [f"-- connector {spec.name}: {spec.source.type} -> {spec.destination.type}"]
    for unit, statements in explain_units(spec).items():
        sections.append(_unit_text(spec, unit, statements))
    return "\n\n".join(sections) + "\n"


def explain_units(spec: ConnectorSpec) -> dict[str, dict[str, Any]]:
    """Per unit: its target table, write mode, extraction and load statements (`--json`)."""
    return {unit: _unit_statements(spec, unit) for unit in spec.units}


def _unit_statements(spec: ConnectorSpec, unit: str) -> dict[str, Any]:
    columns, primary_key, cursor = _unit_shape(spec, unit)
    mode = spec.destination.mode
    extract = _hook("sources", spec.source.type, "explain_extract")
    load = _hook("warehouses", spec.destination.type, "explain_load")
    return {
        "target": f"{spec.destination.schema_}.{unit}",
        "mode": mode,
        "extract": extract(spec.source, unit) if extract else None,
        "load": (
            load(spec.destination, unit, columns, primary_key, cursor=cursor, mode=mode)
            if load
            else None
        ),
    }


def _unit_text(spec: ConnectorSpec, unit: str, statements: dict[str, Any]) -> str:
    lines = [f"-- ==== unit {unit} -> {statements['target']} ({statements['mode']}) ===="]
    if statements["extract"] is None:
        lines.append(f"-- extract: the {spec.source.type} source composes no SQL to show")
    else:
        lines += statements["extract"]
    if statements["load"] is None:
        lines.append(f"-- load: the {spec.destination.type} warehouse shows no statements")
        return "\n".join(lines)
    if isinstance(spec.source, PostgresSource):
        lines.append(
            "-- load: the key and cursor columns shown; the others and all types come from"
            " the source catalog at run time"
        )
    for statement in statements["load"]:
        lines.append(statement if statement.startswith("--") else f"{statement};")
    return "\n".join(lines)


def _unit_shape(spec: ConnectorSpec, unit: str) -> tuple[list[Column], list[str], str | None]:
    """Columns as far as the spec knows them, the primary key and the cursor of a unit."""
    source = spec.source
    if isinstance(source, PostgresSource):
        table = next(table for table in source.tables if table.unit == unit)
        names = [table.cursor] if table.cursor else []
        names = [*table.primary_key, *(name for name in names if name not in table.primary_key)]
        columns = [Column(name=name, type="text", source_type="postgres") for name in names]
        return columns, list(table.primary_key), table.cursor
    if isinstance(source, SalesforceSource):
        obj = next(obj for obj in source.objects if obj.unit == unit)
        fields = obj.fields or ["Id", *([obj.cursor] if obj.cursor else [])]
        columns = [Column(name=name, type="string", source_type="salesforce") for name in fields]
        return columns, ["Id"], obj.cursor
    assert isinstance(source, KinesisSource)
    columns = [
        Column(name=column.name, type=column.type, source_type="stream")
        for column in source.table.columns
    ]
    return columns, list(source.table.primary_key), source.table.event_time_field


def _hook(kind: str, type_: str, name: str) -> Callable[..., list[str]] | None:
    try:
        module = importlib.import_module(f"handlers.{kind}.{type_}")
    except ImportError:
        return None
    hook: Any = getattr(module, name, None)
    return hook if callable(hook) else None
