"""YAML files validated against pydantic models, with every problem tied to a file and line.

PyYAML's composer keeps the position of every node; we keep the line of every field path
so that a pydantic error on `source.tables[0].primary_key` can point at the line a user
must edit, or at the parent mapping when the field is missing.
"""

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from generator.errors import InvalidInput, Problem
from handlers.contracts.spec import FieldError

Model = TypeVar("Model", bound=BaseModel)
FieldPath = tuple[str | int, ...]

# Keys that only ever hold a credential. A spec names a Secrets Manager secret instead.
CREDENTIAL_KEYS = {
    "password",
    "passwd",
    "pwd",
    "token",
    "security_token",
    "access_token",
    "refresh_token",
    "client_secret",
    "private_key",
    "secret_key",
    "secret_access_key",
    "access_key",
    "api_key",
    "connection_string",
    "dsn",
}
# A spec is a few hundred values; YAML aliases can expand a short file into billions of them.
MAX_NODES = 100_000
# A URL with a password in it: scheme://user:password@host
_URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)


def load_yaml_model(path: Path, model: type[Model]) -> Model:
    """Read a YAML file and validate it, raising InvalidInput with every problem found."""
    data, lines = _read_with_lines(path)
    if not isinstance(data, dict):
        raise InvalidInput([Problem(path, 1, "", f"expected a mapping of {model.__name__} fields")])
    problems = _credential_problems(path, data, lines, ())
    try:
        document = model.model_validate(data)
    except ValidationError as error:
        reported = {(problem.line, problem.field) for problem in problems}
        for problem in _translate(path, model, data, lines, error):
            if (problem.line, problem.field) not in reported:
                problems.append(problem)
        raise InvalidInput(problems) from None
    if problems:
        raise InvalidInput(problems)
    return document


def line_of(lines: dict[FieldPath, int], field_path: FieldPath) -> int:
    """The line of a field, or of its nearest ancestor present in the file."""
    for end in range(len(field_path), -1, -1):
        if field_path[:end] in lines:
            return lines[field_path[:end]]
    return 1


def format_field_path(field_path: FieldPath) -> str:
    """`source.tables[0].primary_key` from ('source', 'tables', 0, 'primary_key')."""
    text = ""
    for part in field_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _read_with_lines(path: Path) -> tuple[Any, dict[FieldPath, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput([Problem(path, 1, "", f"cannot read the file: {error}")]) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise InvalidInput([_syntax_problem(path, error)]) from None
    walk = _LineWalk(path)
    if node is not None:
        walk.visit(node, ())
    if walk.problems:
        raise InvalidInput(walk.problems)
    return data, walk.lines


def read_field_lines(path: Path) -> dict[FieldPath, int]:
    """The line of every field path of a YAML file that loads; raises InvalidInput if not."""
    return _read_with_lines(path)[1]


def _syntax_problem(path: Path, error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 1
    reason = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        reason += f" ({context} at line {context_mark.line + 1})"
    elif context:
        reason = f"{context}, {reason}"
    return Problem(path, line, "", f"YAML syntax error: {reason}; fix the YAML here")


class _LineWalk:
    """One walk over a YAML node tree, noting the line of every field path.

    Aliases make the tree a graph: a walk refuses an alias that contains itself, and stops
    at MAX_NODES so that a few nested aliases cannot expand into billions of values.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[Problem] = []
        self._ancestors: set[int] = set()
        self._visited = 0

    def visit(self, node: yaml.Node, field_path: FieldPath) -> None:
        self.lines[field_path] = node.start_mark.line + 1
        self._visited += 1
        if id(node) in self._ancestors:
            self._report(node, field_path, "this YAML alias contains itself; write it out")
        elif self._visited == MAX_NODES + 1:
            self._report(
                node,
                field_path,
                f"the file expands to more than {MAX_NODES} values through YAML aliases;"
                " write it out with fewer nested aliases",
            )
        elif self._visited <= MAX_NODES:
            self._ancestors.add(id(node))
            self._visit_children(node, field_path)
            self._ancestors.discard(id(node))

    def _visit_children(self, node: yaml.Node, field_path: FieldPath) -> None:
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.visit(item, (*field_path, index))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self._report(
                        key_node,
                        (*field_path, key),
                        "this key appears twice in the same mapping; keep one",
                    )
                seen.add(key)
                self.visit(value_node, (*field_path, key))
                self.lines[(*field_path, key)] = key_node.start_mark.line + 1

    def _report(self, node: yaml.Node, field_path: FieldPath, message: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(Problem(self.path, line, format_field_path(field_path), message))


def _credential_problems(
    path: Path, value: Any, lines: dict[FieldPath, int], field_path: FieldPath
) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*field_path, key)
            if str(key).lower() in CREDENTIAL_KEYS:
                problems.append(_credential_problem(path, lines, child))
            else:
                problems += _credential_problems(path, item, lines, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _credential_problems(path, item, lines, (*field_path, index))
    elif isinstance(value, str) and _URL_WITH_PASSWORD.search(value):
        problems.append(_credential_problem(path, lines, field_path))
    return problems


def _credential_problem(path: Path, lines: dict[FieldPath, int], field_path: FieldPath) -> Problem:
    return Problem(
        path,
        line_of(lines, field_path),
        format_field_path(field_path),
        "credentials never go in a spec; store them in AWS Secrets Manager"
        " and name the secret in the 'secret' field",
    )


def _translate(
    path: Path,
    model: type[BaseModel],
    data: Any,
    lines: dict[FieldPath, int],
    error: ValidationError,
) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        field_path = _data_path(data, (*detail["loc"], *_extra_path(detail)))
        message = _message(model, data, field_path, detail)
        problems.append(
            Problem(path, line_of(lines, field_path), format_field_path(field_path), message)
        )
    return problems


def _extra_path(detail: Any) -> FieldPath:
    """Where a model check or a union's discriminator points below the error's location."""
    cause = detail.get("ctx", {}).get("error")
    if isinstance(cause, FieldError):
        return cause.field_path
    if detail["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (str(detail["ctx"]["discriminator"]).strip("'"),)
    return ()


def _data_path(data: Any, loc: tuple[str | int, ...]) -> FieldPath:
    """The error's location as a path in the data, without pydantic's union tags."""
    field_path: list[str | int] = []
    for part in loc:
        if _has_child(data, part):
            data = data[part]
        elif isinstance(data, dict) and part == data.get("type"):
            continue  # the discriminator's tag, not a field
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # pydantic's names for union members and validators
        else:
            data = None
        field_path.append(part)
    return tuple(field_path)


def _has_child(data: Any, part: str | int) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and part < len(data)


def _message(model: type[BaseModel], data: Any, field_path: FieldPath, detail: Any) -> str:
    kind = detail["type"]
    if kind == "missing":
        description = _field_description(model, data, field_path)
        return "is required" + (f"; expected {description}" if description else "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, data, field_path[:-1])
        hint = difflib.get_close_matches(str(field_path[-1]), allowed, n=1)
        suggestion = f"did you mean '{hint[0]}'? " if hint else ""
        return f"unknown key; {suggestion}expected one of: {', '.join(allowed)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(_union_tags(model, data, field_path[:-1]))
        if kind == "union_tag_not_found":
            return f"is required; expected one of: {tags}"
        return f"unknown {field_path[-1]} {detail['ctx']['tag']!r}; expected one of: {tags}"
    text = str(detail["msg"]).removeprefix("Value error, ")
    return text[0].lower() + text[1:] if text else kind


def _model_at(model: type[BaseModel], data: Any, field_path: FieldPath) -> Any:
    """The model class that validates the mapping at field_path, following unions by 'type'."""
    annotation: Any = model
    for part in field_path:
        annotation = _pick_member(annotation, data)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else None
            data = data[part] if isinstance(data, list) and part < len(data) else None
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        field = _field_by_key(annotation, part)
        if field is None:
            return None
        annotation = field.annotation
        data = data.get(part) if isinstance(data, dict) else None
    return _pick_member(annotation, data)


def _pick_member(annotation: Any, data: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                type_field = member.model_fields.get("type")
                tags = typing.get_args(type_field.annotation) if type_field else ()
                if (isinstance(data, dict) and data.get("type") in tags) or len(members) == 1:
                    return member
        return members[0] if len(members) == 1 else None
    return annotation


def _union_tags(model: type[BaseModel], data: Any, field_path: FieldPath) -> list[str]:
    """The 'type' values that the union at field_path accepts, such as postgres, kinesis."""
    parent = _model_at(model, data, field_path[:-1])
    field = _field_by_key(parent, str(field_path[-1])) if _is_model(parent) else None
    annotation = field.annotation if field is not None else None
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    tags: list[str] = []
    for member in typing.get_args(annotation):
        type_field = member.model_fields.get("type") if _is_model(member) else None
        if type_field is not None:
            tags += [str(tag) for tag in typing.get_args(type_field.annotation)]
    return tags


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _allowed_keys(model: type[BaseModel], data: Any, field_path: FieldPath) -> list[str]:
    target = _model_at(model, data, field_path)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        return []
    return [field.alias or name for name, field in target.model_fields.items()]


def _field_description(model: type[BaseModel], data: Any, field_path: FieldPath) -> str | None:
    target = _model_at(model, data, field_path[:-1])
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        return None
    field = _field_by_key(target, str(field_path[-1]))
    return field.description if field is not None else None
