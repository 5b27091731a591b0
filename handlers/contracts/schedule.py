"""Schedule expressions (EventBridge `rate(...)` and `cron(...)`) and the timelabels they tick.

A timelabel is the time of a schedule tick, aligned to the schedule: every tick of
`rate(15 minutes)` falls on a quarter hour, so a delayed or repeated tick still names the
same batch. Expressions follow the EventBridge rules:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_ANY_RATE_UNIT = re.compile(r"rate\([1-9][0-9]* (?P<unit>[A-Za-z]+)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]+)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

# One cron field: lists, ranges, steps, wildcards and the EventBridge extras (L, W, #, ?).
_CRON_FIELD = {
    "minutes": re.compile(r"(\*|[0-5]?\d)([-/][0-5]?\d)?(,[0-5]?\d([-/][0-5]?\d)?)*|\*/\d+"),
    "hours": re.compile(
        r"(\*|[01]?\d|2[0-3])([-/]([01]?\d|2[0-3]))?(,([01]?\d|2[0-3])([-/]\d+)?)*|\*/\d+"
    ),
    "day-of-month": re.compile(
        r"\?|L|\*|(\*/\d+)|([1-9]|[12]\d|3[01])W?([-/,]([1-9]|[12]\d|3[01]))*"
    ),
    "month": re.compile(r"\*|(\*/\d+)|([1-9]|1[0-2]|[A-Z]{3})([-/,]([1-9]|1[0-2]|[A-Z]{3}))*"),
    "day-of-week": re.compile(r"\?|\*|L|([1-7]|[A-Z]{3})(L|#[1-5])?([-,]([1-7]|[A-Z]{3}))*"),
    "year": re.compile(r"\*|(\*/\d+)|(19[7-9]\d|2[01]\d\d)([-/,](19[7-9]\d|2[01]\d\d|\d+))*"),
}


class ScheduleError(ValueError):
    """A schedule expression that EventBridge would refuse."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule expression."""

    expression: str
    period_seconds: int | None  # None for cron: ticks are not evenly spaced

    def timelabel(self, tick: datetime) -> datetime:
        """The timelabel of a tick: its time aligned down to the schedule."""
        tick = tick.astimezone(UTC)
        if self.period_seconds is None:
            return tick.replace(second=0, microsecond=0)
        epoch = int(tick.timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.period_seconds, UTC)

    def next_timelabel(self, timelabel: datetime) -> datetime:
        """The timelabel one period after; for cron, one minute after (the finest tick)."""
        return timelabel + timedelta(seconds=self.period_seconds or 60)


def parse_schedule(expression: str) -> Schedule:
    """Parse `rate(...)` or `cron(...)`, raising ScheduleError with what is expected."""
    rate = _RATE.fullmatch(expression)
    if rate:
        return _parse_rate(expression, int(rate["value"]), rate["unit"])
    cron = _CRON.fullmatch(expression)
    if cron:
        _check_cron_fields(cron["fields"].split(" "))
        return Schedule(expression, None)
    unit = _ANY_RATE_UNIT.fullmatch(expression)
    if unit:
        raise ScheduleError(
            f"{expression!r}: rate() takes minute(s), hour(s) or day(s), not {unit['unit']!r};"
            " EventBridge's finest rate is one minute, as in 'rate(1 minute)'"
        )
    raise ScheduleError(
        f"{expression!r} is not a schedule expression; expected 'rate(15 minutes)'"
        " or a six-field 'cron(0 3 * * ? *)'"
    )


def _parse_rate(expression: str, value: int, unit: str) -> Schedule:
    singular = unit.rstrip("s")
    if (value == 1) != (unit == singular):
        raise ScheduleError(
            f"{expression!r}: EventBridge wants the singular unit for 1 and the plural"
            f" otherwise, as in 'rate(1 {singular})' or 'rate({max(value, 2)} {singular}s)'"
        )
    return Schedule(expression, value * _UNIT_SECONDS[singular])


def _check_cron_fields(fields: list[str]) -> None:
    if len(fields) != 6:
        raise ScheduleError(
            f"cron has {len(fields)} fields; EventBridge expects six:"
            " minutes hours day-of-month month day-of-week year, as in 'cron(0 3 * * ? *)'"
        )
    for (name, pattern), field in zip(_CRON_FIELD.items(), fields, strict=True):
        if not pattern.fullmatch(field):
            raise ScheduleError(f"cron field {name} {field!r} is not valid")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "cron needs '?' in exactly one of day-of-month and day-of-week,"
            " as in 'cron(0 3 * * ? *)'"
        )
