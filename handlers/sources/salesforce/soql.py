"""SOQL composed from checked API names and datetime literals formatted by code.

Nothing from a spec or a record is pasted into a query as text: object and field names must
match the strict Salesforce name pattern, datetimes are parsed and printed in the one
literal format SOQL documents, and record ids are checked before they are quoted.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from handlers.contracts.identifiers import SALESFORCE_NAME
from handlers.errors import TerminalError

# Record ids are 15 or 18 case-sensitive alphanumeric characters.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/field_types.htm#i1435616
_ID_LENGTHS = (15, 18)


def name(value: str) -> str:
    """An API name checked against the strict pattern; SOQL has no identifier quoting."""
    if not SALESFORCE_NAME.fullmatch(value):
        raise TerminalError(
            f"{value!r} is not a Salesforce API name; use letters, digits and '_' only"
        )
    return value


def record_id(value: str) -> str:
    """A record id as a quoted SOQL string literal, after checking its shape."""
    if len(value) not in _ID_LENGTHS or not value.isalnum() or not value.isascii():
        raise TerminalError(f"{value!r} is not a Salesforce record id")
    return f"'{value}'"


def parse_datetime(value: str) -> datetime:
    """A Salesforce datetime ('...T12:00:00.000+0000' or '...Z') as an aware datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TerminalError(f"{value!r} is not a datetime Reef can use as a cursor") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def datetime_literal(value: str) -> str:
    """A SOQL dateTime literal, truncated to the second.

    SOQL literals carry whole seconds only (YYYY-MM-DDThh:mm:ssZ), see
    https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
    so a lower bound is rounded down (it may read a record twice, never miss one).
    """
    return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_datetime(value: str) -> str:
    """The form Reef keeps in bounds and positions: UTC, whole seconds, 'Z'."""
    return datetime_literal(value)


@dataclass(frozen=True)
class Window:
    """A cursor range in whole seconds: lower inclusive; upper inclusive of its whole second
    unless `upper_open`; None is unbounded.

    An inclusive upper second reads every record of that second, whatever its milliseconds,
    and the next batch starts at that same second: a record that lands in the edge second
    after this batch read it is still read by the next one (the merge drops the repeats).
    """

    lower: str | None = None
    upper: str | None = None
    upper_open: bool = False

    def to_json(self) -> list[str | bool | None]:
        return [self.lower, self.upper, self.upper_open]

    @classmethod
    def from_json(cls, value: list[str | bool | None]) -> "Window":
        lower, upper, upper_open = value
        return cls(
            lower=str(lower) if lower is not None else None,
            upper=str(upper) if upper is not None else None,
            upper_open=bool(upper_open),
        )


def window_condition(cursor: str, window: Window) -> list[str]:
    """The conditions that keep a cursor inside a window, ready to join with AND."""
    conditions = []
    if window.lower is not None:
        conditions.append(f"{name(cursor)} >= {datetime_literal(window.lower)}")
    if window.upper is not None:
        end = parse_datetime(datetime_literal(window.upper))
        if not window.upper_open:
            end += timedelta(seconds=1)
        conditions.append(f"{name(cursor)} < {end.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return conditions


def split(window: Window) -> tuple[Window, Window] | None:
    """Two halves of a window with both ends, or None when it is a single second."""
    if window.lower is None or window.upper is None:
        return None
    lower = parse_datetime(window.lower)
    end = parse_datetime(window.upper) + timedelta(seconds=0 if window.upper_open else 1)
    middle = lower + timedelta(seconds=int((end - lower).total_seconds()) // 2)
    if middle <= lower:
        return None
    mid = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        Window(lower=window.lower, upper=mid, upper_open=True),
        Window(lower=mid, upper=window.upper, upper_open=window.upper_open),
    )


def after_condition(cursor: str | None, after: list[str]) -> str:
    """Keyset continuation: after the last (cursor, Id) read, in that order.

    Known shortcoming: the literal is whole seconds, so records later in the last record's
    second are read again after a resume (only after an expired cursor or a budget pause).
    Nothing is lost, and the merge keeps one version per Id; an exact resume would need
    SystemModstamp values with milliseconds in SOQL, which SOQL does not accept.
    """
    if cursor is None:
        return f"Id > {record_id(after[-1])}"
    last_cursor, last_id = after
    literal = datetime_literal(last_cursor)
    return (
        f"({name(cursor)} > {literal} OR"
        f" ({name(cursor)} = {literal} AND Id > {record_id(last_id)}))"
    )


def select(
    obj: str,
    fields: list[str],
    conditions: list[str] | None = None,
    order_by: list[str] | None = None,
    limit: int | None = None,
) -> str:
    """SELECT fields FROM obj [WHERE ...] [ORDER BY ...] [LIMIT n]."""
    text = f"SELECT {', '.join(name(field) for field in fields)} FROM {name(obj)}"
    return _tail(text, conditions, order_by, limit)


def count(obj: str, conditions: list[str] | None = None) -> str:
    """SELECT COUNT() FROM obj [WHERE ...]: the number of records, in totalSize."""
    return _tail(f"SELECT COUNT() FROM {name(obj)}", conditions, None, None)


def _tail(
    text: str, conditions: list[str] | None, order_by: list[str] | None, limit: int | None
) -> str:
    if conditions:
        text += " WHERE " + " AND ".join(conditions)
    if order_by:
        text += " ORDER BY " + ", ".join(order_by)
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    return text


def ascending(*fields: str) -> list[str]:
    """ORDER BY terms, ascending, names checked."""
    return [f"{name(field)} ASC" for field in fields]


def descending(field: str) -> list[str]:
    """One ORDER BY term, descending, with NULLS LAST so the maximum comes first."""
    return [f"{name(field)} DESC NULLS LAST"]
