"""Steps that the extract and load handlers share: failing a batch, budgets, unit lookups."""

from typing import Any

from handlers.bookkeeping import BatchState
from handlers.contracts import runtime
from handlers.contracts.messages import Failed, TraceContext
from handlers.contracts.spec import ConnectorSpec, KinesisSource, PostgresSource
from handlers.errors import TerminalError
from handlers.observability import BATCHES_FAILED, count, logger
from handlers.orchestration.services import Services, now


def fail_batch(services: Services, trace: TraceContext, stage: str, error: TerminalError) -> None:
    """Publish "failed" and mark the batch FAILED with the error that says what to fix."""
    services.publish(
        runtime.FAILED_TOPIC_ARN,
        Failed(trace=trace, stage=stage, error=str(error)),  # type: ignore[arg-type]
    )
    batch = services.ledger.get_batch(trace.connector, trace.unit, trace.timelabel)
    if batch is None:
        return
    failed = services.ledger.transition(batch, BatchState.FAILED, now(), error=str(error)[:2000])
    if failed is None:
        logger.info("batch already finished; not marked FAILED", extra={"state": batch.state})
        return
    if stage == "load":
        services.ledger.release_lease(batch.connector, batch.unit, batch.batch_id)
    count(BATCHES_FAILED, 1)


def primary_key(spec: ConnectorSpec, unit: str) -> list[str]:
    """The key columns of a unit, as its spec names them."""
    source = spec.source
    if isinstance(source, PostgresSource):
        return next(list(table.primary_key) for table in source.tables if table.unit == unit)
    if isinstance(source, KinesisSource):
        return list(source.table.primary_key)
    return ["Id"]  # every Salesforce object is keyed by its 18-character Id


def cursor(spec: ConnectorSpec, unit: str) -> str | None:
    """The unit's cursor column, which orders versions of a row; None for full units."""
    source = spec.source
    if isinstance(source, PostgresSource):
        return next(table.cursor for table in source.tables if table.unit == unit)
    if isinstance(source, KinesisSource):
        return source.table.event_time_field
    return next(obj.cursor for obj in source.objects if obj.unit == unit)


class Budget:
    """How much of the invocation is left, and whether another chunk fits in it.

    A chunk is assumed to take as long as the slowest one so far, times a margin; a reserve
    stays for writing the manifest and sending messages after the last chunk.
    """

    MARGIN = 1.5
    RESERVE_MS = 5_000

    def __init__(self, context: Any, timeout_seconds: int) -> None:
        self._context = context
        self._timeout_ms = timeout_seconds * 1000
        self.slowest_chunk_ms: int | None = None
        self.chunks_run = 0

    def remaining_ms(self) -> int:
        return int(self._context.get_remaining_time_in_millis())

    def seed(self, estimate_ms: int) -> None:
        """Start from the estimate that a previous invocation passed on."""
        self.slowest_chunk_ms = max(self.slowest_chunk_ms or 0, estimate_ms)

    def note_chunk(self, elapsed_ms: int) -> None:
        self.seed(elapsed_ms)
        self.chunks_run += 1

    def allows_chunk(self) -> bool:
        """True when the next chunk should fit before the reserve.

        The first chunk of an invocation always may run, so that every invocation makes
        progress however short its remaining time looks.
        """
        if self.chunks_run == 0:
            return True
        needed = self.RESERVE_MS + int((self.slowest_chunk_ms or 0) * self.MARGIN)
        if needed >= self._timeout_ms:
            # no invocation could ever fit the estimate: go on and let the chunk try, rather
            # than pass continuations around for ever; chunk_rows is too large for the timeout
            logger.warning(
                "a chunk may not fit in the function timeout; lower chunk_rows or raise timeout",
                extra={"slowest_chunk_ms": self.slowest_chunk_ms},
            )
            return True
        return self.remaining_ms() >= needed
