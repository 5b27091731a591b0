"""The load handler: load an extracted batch into the warehouse, once in effect, in order.

It consumes the load queue ("extracted" messages, from the extracted topic). The loads of
one unit run one at a time and in timelabel order: a batch waits (a delayed copy of its
message) while an earlier batch of its unit is unfinished, and it loads only while holding
the unit's lease in book-keeping. The warehouse checks its load log inside the load's own
transaction, so a batch that it already committed answers Loaded(already=True) and is not
loaded again; book-keeping then finishes what a dead invocation left undone. The watermark
moves only after the warehouse commit, and never backwards.
"""

from datetime import datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from handlers.bookkeeping import Batch, BatchState
from handlers.config import aws_error
from handlers.contracts import runtime
from handlers.contracts.batch import Manifest
from handlers.contracts.messages import Extracted, Loaded, parse_timelabel
from handlers.errors import TerminalError, TransientError
from handlers.observability import (
    BATCHES_LOADED,
    FRESHNESS,
    LOAD_SECONDS,
    count,
    logger,
    metrics,
    start_invocation,
)
from handlers.orchestration import checkpoints
from handlers.orchestration.common import fail_batch
from handlers.orchestration.queue import consume
from handlers.orchestration.services import Services, now, services
from handlers.staging import open_gzip_object
from handlers.warehouses.base import LoadPending

# A batch that must wait for an earlier one, or for the lease, comes back after this delay;
# after this many waits it fails, since something upstream needs a person.
WAIT_SECONDS = 30
MAX_WAITS = 480  # four hours of waiting
MAX_DELAY_SECONDS = 900


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Load the batches of an SQS event; the partial batch response."""
    flow = services()
    start_invocation(flow.connector)
    return consume(
        event,
        context,
        flow,
        queue_variable=runtime.LOAD_QUEUE_URL,
        accepted=(Extracted,),
        handle=lambda message, _receives: load(flow, message),
        on_terminal=lambda message, error: fail_batch(flow, message.trace, "load", error),
    )


def load(flow: Services, message: Extracted) -> None:
    """Load the message's batch unless it is loaded, failed, or must wait its turn."""
    batch = _batch_to_load(flow, message)
    if batch is None or not _its_turn(flow, batch, message):
        return
    loading = flow.ledger.transition(batch, BatchState.LOADING, now())
    if loading is None:
        logger.info("batch moved on meanwhile; message ignored")
        return
    checkpoints.reached(checkpoints.LOAD_STARTED)

    manifest = _read_manifest(flow, message)
    with flow.warehouse() as warehouse:
        result = warehouse.load(
            manifest,
            flow.config.connector.destination.mode,
            lambda key: _open_file(flow, manifest.bucket, key),
            message.load_state,
        )
    if isinstance(result, LoadPending):
        _check_again(flow, message, result)
        return
    checkpoints.reached(checkpoints.LOAD_COMMITTED)

    _record_loaded(flow, loading, result.rows, result.already)


def _batch_to_load(flow: Services, message: Extracted) -> Batch | None:
    trace = message.trace
    batch = flow.ledger.get_batch(trace.connector, trace.unit, trace.timelabel)
    if batch is None:
        raise TerminalError(
            f"batch {trace.batch_id} of {trace.unit} has no book-keeping item (expired?);"
            " schedule the range again with a backfill"
        )
    if batch.state is BatchState.LOADED:
        logger.info("batch already loaded; publishing loaded again")
        _publish_loaded(flow, batch, batch.rows, already=True)
        return None
    if batch.state is BatchState.FAILED:
        logger.info("late message for a failed batch; ignored")
        return None
    if batch.state not in (BatchState.EXTRACTED, BatchState.LOADING):
        # book-keeping marks EXTRACTED before "extracted" is published; retry until it shows
        raise TransientError(f"batch {batch.batch_id} is {batch.state}, not yet EXTRACTED")
    return batch


def _its_turn(flow: Services, batch: Batch, message: Extracted) -> bool:
    earlier = flow.ledger.unfinished_before(batch.connector, batch.unit, batch.timelabel)
    if earlier:
        _wait_turn(flow, message, f"earlier batch {earlier[0].batch_id} is {earlier[0].state}")
        return False
    lease_seconds = 2 * flow.config.function_timeout_seconds + MAX_DELAY_SECONDS
    if flow.ledger.acquire_lease(batch, lease_seconds, now()):
        return True
    if _free_finished_lease(flow, batch) and flow.ledger.acquire_lease(batch, lease_seconds, now()):
        return True
    _wait_turn(flow, message, "another batch of the unit is loading")
    return False


def _free_finished_lease(flow: Services, batch: Batch) -> bool:
    """Release a lease whose holder finished: its invocation died before releasing it."""
    lease = flow.ledger.lease(batch.connector, batch.unit)
    if lease is None:
        return True
    holder_id, holder_timelabel = lease
    holder = flow.ledger.get_batch(batch.connector, batch.unit, holder_timelabel)
    if holder is not None and not holder.finished:
        return False
    logger.info("releasing the lease of a finished batch", extra={"holder": holder_id})
    flow.ledger.release_lease(batch.connector, batch.unit, holder_id)
    return True


def _wait_turn(flow: Services, message: Extracted, reason: str) -> None:
    waits = message.trace.attempt
    if waits >= MAX_WAITS:
        raise TerminalError(
            f"waited {waits} times for the unit's turn ({reason}); finish or fail that batch"
            " (see `main.py status`), then redrive this message"
        )
    again = message.model_copy(
        update={"trace": message.trace.model_copy(update={"attempt": waits + 1})}
    )
    flow.send(runtime.LOAD_QUEUE_URL, again, delay_seconds=WAIT_SECONDS)
    logger.info("waiting for the unit's turn", extra={"reason": reason})


def _read_manifest(flow: Services, message: Extracted) -> Manifest:
    where = f"s3://{message.manifest_bucket}/{message.manifest_key}"
    try:
        body = flow.s3.get_object(Bucket=message.manifest_bucket, Key=message.manifest_key)
        return Manifest.model_validate_json(body["Body"].read())
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"reading the manifest {where}") from error
    except ValidationError as invalid:
        raise TerminalError(
            f"the manifest {where} is invalid ({invalid.error_count()} problems); extract the"
            " batch again with this Reef version"
        ) from None


def _open_file(flow: Services, bucket: str, key: str) -> IO[bytes]:
    try:
        return open_gzip_object(flow.s3, bucket, key)
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"reading s3://{bucket}/{key}") from error


def _check_again(flow: Services, message: Extracted, pending: LoadPending) -> None:
    again = message.model_copy(update={"load_state": pending.state})
    delay = min(max(pending.delay_seconds, 0), MAX_DELAY_SECONDS)
    flow.send(runtime.LOAD_QUEUE_URL, again, delay_seconds=delay)
    logger.info("warehouse still loading; checking again later", extra={"delay_seconds": delay})


def _record_loaded(flow: Services, batch: Batch, rows: int, already: bool) -> None:
    if already:
        logger.info("the warehouse's load log has the batch; finishing book-keeping only")
    if batch.backfill:
        # a backfill reloads a past range; the live schedule's watermark is not its to move
        logger.info("backfill batch; watermark left as it is")
    else:
        flow.ledger.advance_watermark(batch, now())
    checkpoints.reached(checkpoints.LOAD_WATERMARK_ADVANCED)
    loaded = flow.ledger.transition(batch, BatchState.LOADED, now(), loaded_rows=rows)
    if loaded is not None:
        started = loaded.times.get("load_started_at")
        if started:
            seconds = (now() - _iso(started)).total_seconds()
            flow.ledger.record_timing(loaded, "load_seconds", started, now())
            count(LOAD_SECONDS, seconds)
        count(BATCHES_LOADED, 1)
        count(FRESHNESS, max((now() - parse_timelabel(batch.timelabel)).total_seconds(), 0.0))
    checkpoints.reached(checkpoints.LOAD_MARKED_LOADED)
    flow.ledger.release_lease(batch.connector, batch.unit, batch.batch_id)
    _publish_loaded(flow, batch, rows, already)
    logger.info("batch loaded", extra={"rows": rows, "already": already})


def _publish_loaded(flow: Services, batch: Batch, rows: int, already: bool) -> None:
    message = Loaded(trace=batch.trace, rows=rows, already=already, watermark=batch.bounds.upper)
    flow.publish(runtime.LOADED_TOPIC_ARN, message)
    checkpoints.reached(checkpoints.LOAD_PUBLISHED)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
