"""Which fields of an object Reef reads, from the object's describe result.

Compound fields (address, location) are never queried as such: Bulk API 2.0 cannot select
them and their parts are ordinary fields. With `compound_fields: flatten` a compound field
stands for its parts; with `skip` the compound field and its parts are left out.
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/compound_fields.htm
"""

import logging
from dataclasses import dataclass
from typing import Any

from handlers.contracts.batch import Column
from handlers.contracts.spec import SalesforceObject
from handlers.errors import TerminalError

logger = logging.getLogger(__name__)

COMPOUND_TYPES = ("address", "location")
# Bulk API 2.0 query results cannot hold binary content.
# https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
UNREADABLE_TYPES = ("base64",)


@dataclass(frozen=True)
class Field:
    """A field as describe reports it."""

    name: str
    type: str
    nillable: bool
    compound_of: str | None


@dataclass(frozen=True)
class ObjectShape:
    """The fields Reef selects for an object, in file order, and what the object offers."""

    name: str
    fields: list[Field]
    has_is_deleted: bool

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    def columns(self) -> list[Column]:
        return [
            Column(
                name=field.name, type=field.type, source_type="salesforce", nullable=field.nillable
            )
            for field in self.fields
        ]

    def type_of(self, name: str) -> str:
        return next(field.type for field in self.fields if field.name == name)


def shape(obj: SalesforceObject, describe: dict[str, Any]) -> ObjectShape:
    """The fields to read: the spec's list checked against describe, or all readable fields."""
    fields = [_field(raw) for raw in describe.get("fields", [])]
    by_name = {field.name: field for field in fields}
    wanted = obj.fields if obj.fields is not None else [field.name for field in fields]
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise TerminalError(
            f"object {obj.name} has no field {', '.join(unknown)} visible to the connector's"
            f" user; fix the spec's fields list (API names are case-sensitive) or grant the"
            f" user field-level read access"
        )

    selected = _expand(obj, [by_name[name] for name in wanted], fields, explicit=obj.fields)
    if obj.cursor is not None:
        _require(obj, by_name, obj.cursor, ("datetime",))
    if obj.deletes == "flag":
        _require(obj, by_name, "IsDeleted", ("boolean",))
        if "IsDeleted" not in [field.name for field in selected]:
            selected.append(by_name["IsDeleted"])
    if "Id" not in [field.name for field in selected]:
        _require(obj, by_name, "Id", ("id",))
        selected.insert(0, by_name["Id"])
    return ObjectShape(name=obj.name, fields=selected, has_is_deleted="IsDeleted" in by_name)


def _field(raw: dict[str, Any]) -> Field:
    return Field(
        name=str(raw["name"]),
        type=str(raw["type"]),
        nillable=bool(raw.get("nillable", True)),
        compound_of=raw.get("compoundFieldName"),
    )


def _expand(
    obj: SalesforceObject, wanted: list[Field], every: list[Field], explicit: list[str] | None
) -> list[Field]:
    compound = {field.name for field in every if field.type in COMPOUND_TYPES}
    selected: list[Field] = []
    for field in wanted:
        if field.type in UNREADABLE_TYPES:
            if explicit is not None:
                logger.warning(
                    "skipping %s.%s: %s fields cannot be bulk-read",
                    obj.name,
                    field.name,
                    field.type,
                )
            continue
        if field.name in compound:
            if obj.compound_fields == "flatten":
                selected.extend(part for part in every if part.compound_of == field.name)
            elif explicit is not None:
                logger.warning(
                    "skipping compound field %s.%s (compound_fields: skip)", obj.name, field.name
                )
            continue
        is_part = field.compound_of in compound
        if is_part and obj.compound_fields == "skip" and explicit is None:
            continue
        selected.append(field)
    return _unique(selected)


def _unique(fields: list[Field]) -> list[Field]:
    seen: set[str] = set()
    unique = []
    for field in fields:
        if field.name not in seen:
            seen.add(field.name)
            unique.append(field)
    return unique


def _require(
    obj: SalesforceObject, by_name: dict[str, Field], name: str, types: tuple[str, ...]
) -> None:
    field = by_name.get(name)
    if field is None or field.type not in types:
        found = "missing" if field is None else f"of type {field.type}"
        raise TerminalError(
            f"object {obj.name}: field {name} is {found}, expected {' or '.join(types)};"
            f" set the object's cursor to a datetime field, or null for full loads"
            if name == obj.cursor
            else f"object {obj.name}: field {name} is {found}, expected {' or '.join(types)}"
        )
