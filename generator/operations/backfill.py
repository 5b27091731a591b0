"""`reef backfill`: schedule batches of a unit for a past cursor range, as the scheduler would.

Why several batches, cut at the schedule's period, rather than one for the whole range:
each batch then has the size of the live ones, which the function memory, timeout, chunk
size and warehouse load were sized for; a failure redoes one slice, not the whole range;
and `status` and `trace` show how far the backfill is. The cost is one load per slice, so
`--slice-minutes` can make slices longer. Cron schedules have no period; their slices are
a day unless `--slice-minutes` says otherwise.

Bounds: a slice (a, b] reads rows whose cursor is after a up to and including b (the
sources' own bound semantics); the first slice includes T1, so the backfill reads [T1, T2].
A row whose cursor is exactly T2 is read as well: with merge loads that is harmless.

Timelabels: a batch is named by (connector, unit, timelabel), and the warehouse's load log
skips a batch id it has loaded before, so a backfill batch must not reuse a live batch's
timelabel. Live timelabels fall on whole minutes (EventBridge's finest tick is a minute),
so a backfill batch is labelled its slice's end plus 1 to 59 seconds: the first second at
which none of the backfill's timelabels exists yet. Repeating a backfill of the same range
therefore takes the next second, and 59 backfills of one range fit within the book-keeping
TTL. Batches sort, load and show in timelabel order among the live ones.

Watermark: backfill batches carry `backfill: true` (in book-keeping and on the scheduled
message), and the load handler leaves the unit's watermark alone for them, so the live
schedule goes on where it was, whatever the range.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from generator.operations.trace import Deployed, Refused, Unavailable
from handlers.bookkeeping import Batch
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import Scheduled, TraceContext, encode, format_timelabel
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import ConnectorSpec, KinesisSource
from handlers.errors import ReefError

CRON_SLICE = timedelta(days=1)
# One backfill schedules at most this many batches: each is a Lambda run and a warehouse
# load; a longer range wants longer slices (--slice-minutes) or several backfills.
MAX_BATCHES = 2000


@dataclass(frozen=True)
class PlannedBatch:
    """One slice of a backfill: the cursor range (lower, upper] and the timelabel it gets."""

    lower: datetime
    upper: datetime
    first: bool

    def bounds(self) -> Bounds:
        return Bounds(
            lower=_cursor(self.lower), upper=_cursor(self.upper), lower_inclusive=self.first
        )

    def labelled(self, second: int) -> str:
        return format_timelabel(self.upper.replace(second=second))


def schedule_in_force(spec: ConnectorSpec, overrides: dict[str, Any]) -> str:
    """The connector's schedule in an environment: its override, else the spec's."""
    override = overrides.get(spec.name)
    return override.schedule if override and override.schedule else spec.schedule


def plan(
    spec: ConnectorSpec,
    unit: str,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    schedule: str,
    slice_minutes: int | None = None,
) -> list[PlannedBatch]:
    """The slices of [start, end] for the unit, oldest first; Refused for a range it refuses."""
    if unit not in spec.units:
        raise Refused(
            f"connector {spec.name} has no unit {unit!r}; its units are: " + ", ".join(spec.units)
        )
    if isinstance(spec.source, KinesisSource):
        raise Refused(
            f"{spec.name} reads a Kinesis stream, whose records are kept only for the stream's"
            " retention; there is no past range to read again"
        )
    if _cursor_of(spec, unit) is None:
        raise Refused(
            f"unit {unit} of {spec.name} is a full unit (no cursor): every batch reads the whole"
            " table, so there is no range to backfill; `python main.py trigger` loads it now"
        )
    for name, moment in (("--from", start), ("--to", end)):
        if moment.second or moment.microsecond:
            raise Refused(f"{name} {moment.isoformat()} must be a whole minute, such as 10:15:00")
    if start >= end:
        raise Refused(f"--from {_cursor(start)} must be before --to {_cursor(end)}")
    if end > now:
        raise Refused(
            f"--to {_cursor(end)} is in the future (now is {_cursor(now)}); the live schedule"
            " reads what is newer"
        )
    if slice_minutes is not None:
        period = timedelta(minutes=slice_minutes)
    else:
        seconds = parse_schedule(schedule).period_seconds
        period = timedelta(seconds=seconds) if seconds else CRON_SLICE
    cuts = _cuts(start, end, period)
    if len(cuts) - 1 > MAX_BATCHES:
        raise Refused(
            f"the range makes {len(cuts) - 1} batches of {period}, more than {MAX_BATCHES};"
            " pass a longer --slice-minutes or split the range"
        )
    return [
        PlannedBatch(lower=lower, upper=upper, first=number == 0)
        for number, (lower, upper) in enumerate(pairwise(cuts))
    ]


def free_second(
    deployed: Deployed, spec: ConnectorSpec, unit: str, batches: list[PlannedBatch]
) -> int:
    """The first second (1-59) at which none of the batches' timelabels is in book-keeping."""
    for second in range(1, 60):
        taken = any(
            deployed.ledger.get_batch(spec.name, unit, batch.labelled(second)) is not None
            for batch in batches
        )
        if not taken:
            return second
    raise Refused(
        f"this range of {unit} was backfilled 59 times within the book-keeping TTL;"
        " backfill a slightly different range"
    )


def schedule(
    deployed: Deployed,
    spec: ConnectorSpec,
    unit: str,
    batches: list[PlannedBatch],
    *,
    now: datetime,
    advance: Any = lambda steps=1: None,
) -> list[Batch]:
    """Record each batch as SCHEDULED (backfill) and publish "scheduled", in timelabel order."""
    scheduled: list[Batch] = []
    try:
        second = free_second(deployed, spec, unit, batches)
        topic = deployed.topic_arn(f"{spec.name}-scheduled")
        for planned in batches:
            trace = TraceContext.of_batch(spec.name, unit, planned.labelled(second))
            batch = deployed.ledger.create_batch(trace, planned.bounds(), now, backfill=True)
            message = Scheduled(trace=batch.trace, bounds=batch.bounds, backfill=True)
            deployed.sns.publish(TopicArn=topic, Message=encode(message))
            scheduled.append(batch)
            advance()
    except (ClientError, BotoCoreError, ReefError) as error:
        raise Unavailable(
            f"backfill of {spec.name}/{unit} stopped after {len(scheduled)} batches: {error};"
            " running the same command again schedules the rest under new timelabels"
        ) from None
    return scheduled


def _cuts(start: datetime, end: datetime, period: timedelta) -> list[datetime]:
    # cut at multiples of the period since the epoch, as the schedule's timelabels are
    step = int(period.total_seconds())
    first = (int(start.timestamp()) // step + 1) * step
    cuts = [start]
    moment = first
    while moment < end.timestamp():
        cuts.append(datetime.fromtimestamp(moment, UTC))
        moment += step
    return [*cuts, end]


def _cursor(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor_of(spec: ConnectorSpec, unit: str) -> str | None:
    from handlers.orchestration.common import cursor

    return cursor(spec, unit)
