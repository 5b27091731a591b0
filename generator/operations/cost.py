"""A monthly cost estimate of one connector, line by line, from its spec and environment.

The estimate multiplies what the flow does in a month (schedule ticks, batches, chunks,
messages, requests, bytes) by AWS list prices from `generator/pricing/aws-prices.yaml`, a
dated table that names the page behind each figure. It counts only the connector's own
usage-priced resources; the core stack's fixed costs (the KMS key, alarms), CloudWatch Logs,
KMS requests, Secrets Manager calls and the warehouse's own compute are left out and said so.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.environments import Environment
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresSource,
    RedshiftDestination,
    SalesforceSource,
)

PRICES_FILE = Path(__file__).resolve().parent.parent / "pricing" / "aws-prices.yaml"

# AWS prices a month as 730 hours (https://aws.amazon.com/calculator/ uses the same).
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GIB = 1024**3


@dataclass(frozen=True)
class Assumptions:
    """The throughput and behaviour figures the estimate rests on; each is a guess to refine.

    Throughputs are per full vCPU: Lambda gives one vCPU at 1,769 MB and a share of it below
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html); Reef's handlers
    are single-threaded Python, so more memory than that does not make them faster.
    """

    extract_bytes_per_second: float = 5_000_000  # read, encode and gzip source rows
    load_bytes_per_second: float = 10_000_000  # PostgreSQL warehouse: COPY and merge
    stream_bytes_per_second: float = 10_000_000  # decode Kinesis records, write a file
    invocation_overhead_seconds: float = 0.5  # clients, book-keeping, S3 round trips
    redshift_wait_seconds: float = 10.0  # the load function waits for COPY and merge
    full_vcpu_memory_mb: int = 1769
    continuation_margin: float = 0.8  # share of the timeout an extract uses before continuing
    gzip_ratio: float = 4.0  # raw bytes per staged byte
    part_bytes: int = 8 * 1024 * 1024  # staging writer's multipart part size
    sqs_requests_per_message: int = 3  # send, receive, delete
    # Lambda keeps long-polling an idle queue: about five pollers, 20-second waits
    # (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
    sqs_idle_receives_per_minute: float = 15.0
    salesforce_chunk_rows: int = 100_000  # Bulk API 2.0 result pages are read in this size
    salesforce_bulk_polls: int = 2  # delayed poll messages while a bulk job runs
    kinesis_on_demand_shards: int = 4  # an on-demand stream starts at 4 MB/s of writes
    bookkeeping_item_bytes: int = 500


ASSUMPTIONS = Assumptions()


@dataclass(frozen=True)
class CostLine:
    """One priced line of the estimate."""

    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    monthly_usd: float
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    """The whole estimate: its inputs, its lines and their total."""

    connector: str
    environment: str
    rows_per_day: int
    row_bytes: int
    ticks_per_month: float
    lambda_memory_mb: int
    lambda_architecture: str
    prices_read_on: str
    lines: list[CostLine]

    @property
    def total_usd(self) -> float:
        return round(sum(line.monthly_usd for line in self.lines), 2)

    def as_json(self) -> dict[str, Any]:
        """The estimate as plain data for `--json`."""
        data = asdict(self)
        data["total_usd"] = self.total_usd
        data["assumptions"] = asdict(ASSUMPTIONS)
        data["excluded"] = EXCLUDED
        return data


EXCLUDED = [
    "AWS free tier",
    "CloudWatch Logs, metrics and alarms",
    "KMS key and requests",
    "Secrets Manager secrets and calls",
    "warehouse compute (Redshift or PostgreSQL)",
    "data transfer",
]


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The dated price table."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def estimate(
    spec: ConnectorSpec,
    environment: Environment,
    rows_per_day: int,
    row_bytes: int,
    prices: dict[str, Any] | None = None,
) -> Estimate:
    """Estimate a connector's monthly cost in one environment."""
    table = prices or load_prices()
    settings = environment.lambda_settings(spec)
    ticks = ticks_per_month(_schedule_in_force(spec, environment))
    usage = _Usage(spec, environment, ticks, rows_per_day, row_bytes)
    if isinstance(spec.source, KinesisSource):
        usage.stream(spec.source)
    else:
        usage.batches()
    lines = usage.priced(table["prices"], settings.architecture, settings.memory)
    return Estimate(
        connector=spec.name,
        environment=environment.name,
        rows_per_day=rows_per_day,
        row_bytes=row_bytes,
        ticks_per_month=round(ticks, 2),
        lambda_memory_mb=settings.memory,
        lambda_architecture=settings.architecture,
        prices_read_on=str(table["read_on"]),
        lines=lines,
    )


def ticks_per_month(expression: str) -> float:
    """How many times a schedule fires in a 730-hour month."""
    schedule = parse_schedule(expression)
    if schedule.period_seconds is not None:
        return HOURS_PER_MONTH * 3600 / schedule.period_seconds
    minutes, hours, day_of_month, month, day_of_week, _year = expression[5:-1].split(" ")
    per_day = _count(minutes, 0, 59) * _count(hours, 0, 23)
    return per_day * _days_per_month(day_of_month, day_of_week) * _count(month, 1, 12) / 12


def _schedule_in_force(spec: ConnectorSpec, environment: Environment) -> str:
    override = environment.overrides.get(spec.name)
    return override.schedule if override and override.schedule else spec.schedule


_NAMES = {
    name: str(number)
    for names in (
        ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    )
    for number, name in enumerate(names, start=1)
}


def _count(field: str, low: int, high: int) -> int:
    # values a cron field selects; day and month names become numbers, L/W/# count as one
    for name, number in _NAMES.items():
        field = field.replace(name, number)
    total = 0
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            first, last = low, high
        elif "-" in span and span.replace("-", "").isdigit():
            first, last = (int(value) for value in span.split("-"))
        elif span.isdigit():
            first, last = int(span), int(span) if not step else high
        else:
            total += 1
            continue
        total += len(range(first, last + 1, int(step) if step else 1))
    return total


def _days_per_month(day_of_month: str, day_of_week: str) -> float:
    if day_of_month not in ("*", "?"):
        return min(_count(day_of_month, 1, 31), DAYS_PER_MONTH)
    if day_of_week not in ("*", "?"):
        if "#" in day_of_week or day_of_week.endswith("L"):
            return 1.0
        return _count(day_of_week, 1, 7) / 7 * DAYS_PER_MONTH
    return DAYS_PER_MONTH


class _Usage:
    """Counts a month's usage of each priced item, then prices it."""

    def __init__(
        self,
        spec: ConnectorSpec,
        environment: Environment,
        ticks: float,
        rows_per_day: int,
        row_bytes: int,
    ):
        self.spec = spec
        self.environment = environment
        self.settings = environment.lambda_settings(spec)
        self.ticks = ticks
        self.rows_per_month = rows_per_day * DAYS_PER_MONTH
        self.row_bytes = row_bytes
        self.seconds: dict[str, float] = {}
        self.invocations: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    @property
    def vcpu(self) -> float:
        return min(1.0, self.settings.memory / ASSUMPTIONS.full_vcpu_memory_mb)

    def add(self, key: str, amount: float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + amount

    def run(self, function: str, invocations: float, seconds_each: float) -> None:
        self.invocations[function] = self.invocations.get(function, 0.0) + invocations
        self.seconds[function] = self.seconds.get(function, 0.0) + invocations * seconds_each

    def batches(self) -> None:
        """Scheduled batch sources: PostgreSQL tables and Salesforce objects."""
        a = ASSUMPTIONS
        units = self.spec.units
        self.run("scheduler", self.ticks, a.invocation_overhead_seconds + 0.2 * len(units))
        batches_per_unit = self.ticks
        rows_per_batch = self.rows_per_month / self.ticks / len(units)
        bytes_per_batch = rows_per_batch * self.row_bytes
        extract_seconds = a.invocation_overhead_seconds + bytes_per_batch / (
            a.extract_bytes_per_second * self.vcpu
        )
        usable = self.settings.timeout * a.continuation_margin
        invocations = max(1, math.ceil(extract_seconds / usable))
        for chunk_rows in self._chunk_rows():
            chunks = max(1, math.ceil(rows_per_batch / chunk_rows))
            polls = self._bulk_polls(rows_per_batch)
            self.run(
                "extract", batches_per_unit * (invocations + polls), extract_seconds / invocations
            )
            self.run("load", batches_per_unit, self._load_seconds(bytes_per_batch))
            self.add("sqs_messages", batches_per_unit * (invocations + polls + 1))
            self.add("sns_publishes", batches_per_unit * 3)  # scheduled, extracted, loaded
            self._staging(batches_per_unit, chunks, bytes_per_batch / chunks)
            self._bookkeeping(batches_per_unit, chunks, invocations)
        self.add("sqs_idle_queues", 2)

    def stream(self, source: KinesisSource) -> None:
        """A Kinesis stream, landed in files per timelabel and loaded once per tick."""
        a = ASSUMPTIONS
        settings = source.stream
        records = self.rows_per_month
        shards = settings.shards or a.kinesis_on_demand_shards
        windows = HOURS_PER_MONTH * 3600 / max(settings.batching_window_seconds, 1)
        polled = windows * shards * settings.parallelization_factor
        invocations = max(records / settings.batch_size, min(records, polled))
        bytes_each = records * self.row_bytes / invocations if invocations else 0.0
        self.run(
            "stream",
            invocations,
            a.invocation_overhead_seconds / 2
            + bytes_each / (a.stream_bytes_per_second * self.vcpu),
        )
        self.run("scheduler", self.ticks, a.invocation_overhead_seconds)
        bytes_per_tick = records * self.row_bytes / self.ticks
        self.run("load", self.ticks, self._load_seconds(bytes_per_tick))
        self.add("sqs_messages", self.ticks)
        self.add("sns_publishes", self.ticks * 2)  # extracted, loaded
        self.add("s3_puts", invocations * self._puts_per_file(bytes_each) + self.ticks)
        self.add("s3_gets", invocations + self.ticks)
        self.add("s3_gib_stored", self._stored_gib(records * self.row_bytes))
        self.add("ddb_writes", invocations + self.ticks * 4)
        self.add("ddb_reads", self.ticks * 2)
        self.add("ddb_gib_stored", self._ledger_gib(invocations + self.ticks))
        self.add("sqs_idle_queues", 1)
        gib_in = records * math.ceil(self.row_bytes / 1024) * 1024 / GIB
        if settings.mode == "on_demand":
            self.add("kinesis_stream_hours", HOURS_PER_MONTH)
            self.add("kinesis_gib_in", gib_in)
            self.add("kinesis_gib_out", records * self.row_bytes / GIB)
        else:
            self.add("kinesis_shard_hours", HOURS_PER_MONTH * (settings.shards or 1))
            self.add("kinesis_put_units", records * math.ceil(self.row_bytes / 25_600))

    def _chunk_rows(self) -> list[int]:
        source = self.spec.source
        if isinstance(source, PostgresSource):
            return [table.chunk_rows for table in source.tables]
        assert isinstance(source, SalesforceSource)
        return [ASSUMPTIONS.salesforce_chunk_rows for _ in source.objects]

    def _bulk_polls(self, rows_per_batch: float) -> int:
        source = self.spec.source
        bulk = isinstance(source, SalesforceSource) and rows_per_batch > source.bulk_threshold
        return ASSUMPTIONS.salesforce_bulk_polls if bulk else 0

    def _load_seconds(self, batch_bytes: float) -> float:
        a = ASSUMPTIONS
        if isinstance(self.spec.destination, RedshiftDestination):
            return a.invocation_overhead_seconds + a.redshift_wait_seconds
        return a.invocation_overhead_seconds + batch_bytes / (a.load_bytes_per_second * self.vcpu)

    def _puts_per_file(self, raw_bytes: float) -> int:
        # the staging writer sends one PutObject below a part, else create, parts, complete
        parts = math.ceil(raw_bytes / ASSUMPTIONS.gzip_ratio / ASSUMPTIONS.part_bytes)
        return 1 if parts <= 1 else parts + 2

    def _staging(self, batches: float, chunks: int, chunk_bytes: float) -> None:
        self.add("s3_puts", batches * (chunks * self._puts_per_file(chunk_bytes) + 1))
        self.add("s3_gets", batches * (chunks + 1))  # the files and the manifest, at load
        self.add("s3_gib_stored", self._stored_gib(batches * chunks * chunk_bytes))

    def _stored_gib(self, raw_bytes_per_month: float) -> float:
        staged_per_day = raw_bytes_per_month / ASSUMPTIONS.gzip_ratio / DAYS_PER_MONTH
        return staged_per_day * self.environment.staging_expiry_days / GIB

    def _bookkeeping(self, batches: float, chunks: int, invocations: int) -> None:
        # five status transitions, one item per chunk, a progress write per continuation,
        # the watermark; reads: the watermark at scheduling and the chunk list at load
        self.add("ddb_writes", batches * (5 + chunks + (invocations - 1) + 1))
        self.add("ddb_reads", batches * (1 + math.ceil(chunks / 8)))
        self.add("ddb_gib_stored", self._ledger_gib(batches * (1 + chunks)))

    def _ledger_gib(self, items_per_month: float) -> float:
        items_kept = items_per_month / DAYS_PER_MONTH * self.environment.bookkeeping_ttl_days
        return items_kept * ASSUMPTIONS.bookkeeping_item_bytes / GIB

    def priced(self, prices: dict[str, Any], architecture: str, memory_mb: int) -> list[CostLine]:
        """Every line with a quantity, priced; zero-quantity items are left out."""
        lines: list[CostLine] = []

        def line(  # noqa: PLR0917 - positional, each call reads like a row of the table
            service: str,
            item: str,
            quantity: float,
            unit: str,
            key: str,
            per: float,
            note: str = "",
        ) -> None:
            price = prices[key]["price"]
            usd = quantity / per * price
            lines.append(
                CostLine(service, item, round(quantity, 2), unit, price, round(usd, 4), note)
            )

        gb = memory_mb / 1024
        for function in sorted(self.seconds):
            line(
                "Lambda",
                f"{function} GB-seconds",
                self.seconds[function] * gb,
                "GB-s",
                f"lambda_gb_second_{architecture}",
                1,
                f"{self.invocations[function]:.0f} invocations at {memory_mb} MB",
            )
        line(
            "Lambda", "requests", sum(self.invocations.values()), "requests", "lambda_requests", 1e6
        )
        c = self.counts
        a = ASSUMPTIONS
        line(
            "SQS",
            "message requests",
            c.get("sqs_messages", 0) * a.sqs_requests_per_message,
            "requests",
            "sqs_standard_requests",
            1e6,
            "send, receive and delete per message",
        )
        idle = c.get("sqs_idle_queues", 0) * a.sqs_idle_receives_per_minute * 60 * HOURS_PER_MONTH
        line(
            "SQS",
            "idle long polls",
            idle,
            "requests",
            "sqs_standard_requests",
            1e6,
            "Lambda's pollers on each work queue",
        )
        line(
            "SNS",
            "publishes",
            c.get("sns_publishes", 0),
            "requests",
            "sns_publishes",
            1e6,
            "deliveries to SQS are free",
        )
        line("S3", "PUT requests", c.get("s3_puts", 0), "requests", "s3_put_requests", 1e3)
        line("S3", "GET requests", c.get("s3_gets", 0), "requests", "s3_get_requests", 1e3)
        line(
            "S3",
            "staging storage",
            c.get("s3_gib_stored", 0),
            "GB-month",
            "s3_storage_standard",
            1,
            f"gzip files kept {self.environment.staging_expiry_days} days",
        )
        line(
            "DynamoDB",
            "book-keeping writes",
            c.get("ddb_writes", 0),
            "WRU",
            "dynamodb_write_request_units",
            1e6,
        )
        line(
            "DynamoDB",
            "book-keeping reads",
            c.get("ddb_reads", 0),
            "RRU",
            "dynamodb_read_request_units",
            1e6,
        )
        line(
            "DynamoDB",
            "book-keeping storage",
            c.get("ddb_gib_stored", 0),
            "GB-month",
            "dynamodb_storage",
            1,
            f"items kept {self.environment.bookkeeping_ttl_days} days",
        )
        self._kinesis_lines(line)
        if isinstance(self.spec.destination, RedshiftDestination):
            line(
                "Redshift",
                "Data API calls",
                self.invocations.get("load", 0) * 4,
                "requests",
                "redshift_data_api",
                1e6,
                "the Data API is free; the warehouse's compute is billed apart",
            )
        return [item for item in lines if item.quantity > 0]

    def _kinesis_lines(self, line: Any) -> None:
        c = self.counts
        if "kinesis_stream_hours" in c:
            line(
                "Kinesis",
                "on-demand stream hours",
                c["kinesis_stream_hours"],
                "stream-hours",
                "kinesis_on_demand_stream_hours",
                1,
            )
            line(
                "Kinesis",
                "data in",
                c["kinesis_gib_in"],
                "GB",
                "kinesis_on_demand_data_in",
                1,
                "each record rounded up to 1 KB",
            )
            line(
                "Kinesis",
                "data out",
                c["kinesis_gib_out"],
                "GB",
                "kinesis_on_demand_data_out",
                1,
                "read once by the stream function",
            )
        if "kinesis_shard_hours" in c:
            line(
                "Kinesis",
                "shard hours",
                c["kinesis_shard_hours"],
                "shard-hours",
                "kinesis_shard_hours",
                1,
            )
            line(
                "Kinesis",
                "PUT payload units",
                c["kinesis_put_units"],
                "25 KB units",
                "kinesis_put_payload_units",
                1e6,
            )
