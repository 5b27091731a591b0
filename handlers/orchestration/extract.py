"""The extract handler: read a batch's range chunk by chunk into gzip files in S3.

It consumes the extract queue: "scheduled" messages (from the scheduled topic) and its own
"continuation" messages. Either kind only says "work on this batch"; where to go on is read
from book-keeping, which records each chunk and the source's position after it. So a
duplicate, a late or a re-delivered message resumes from the last recorded chunk, and two
invocations racing on one batch cannot both record a chunk (the loser stops).

Before each chunk the remaining time is checked against the slowest chunk so far; when the
next one might not fit, a continuation goes to the queue and the invocation returns. A source
that waits for a remote job gets a delayed continuation; nothing here sleeps.
"""

import contextlib
import csv
import dataclasses
import io
import time
from datetime import datetime
from typing import IO, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from handlers.bookkeeping import Batch, BatchState, Chunk
from handlers.config import aws_error
from handlers.contracts import runtime
from handlers.contracts.batch import Manifest, ManifestFile
from handlers.contracts.messages import Continuation, Extracted, Scheduled, TraceContext
from handlers.errors import TerminalError
from handlers.observability import (
    BYTES,
    CHUNKS,
    EXTRACT_SECONDS,
    ROWS,
    count,
    logger,
    metrics,
    start_invocation,
)
from handlers.orchestration import checkpoints
from handlers.orchestration.common import Budget, cursor, fail_batch, primary_key
from handlers.orchestration.queue import consume
from handlers.orchestration.services import (
    Services,
    chunk_key,
    deleted_keys_key,
    manifest_key,
    now,
    services,
)
from handlers.sources.base import ChunkRead, Source, WaitFor
from handlers.staging import GzipObjectWriter
from handlers.staging_split import RecordSplitter
from handlers.warehouses.redshift.files import plan_file_count

# SQS delays a message by at most 15 minutes; a longer wait is a chain of delays.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html
MAX_DELAY_SECONDS = 900


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Extract the batches of an SQS event; the partial batch response."""
    flow = services()
    start_invocation(flow.connector)
    budget = Budget(context, flow.config.function_timeout_seconds)
    return consume(
        event,
        context,
        flow,
        queue_variable=runtime.EXTRACT_QUEUE_URL,
        accepted=(Scheduled, Continuation),
        handle=lambda message, _receives: extract(flow, message, budget),
        on_terminal=lambda message, error: fail_batch(flow, message.trace, "extract", error),
    )


def extract(flow: Services, message: Scheduled | Continuation, budget: Budget) -> None:
    """Work on the message's batch from its recorded progress until done, out of time or waiting."""
    if isinstance(message, Continuation) and message.chunk_ms_estimate is not None:
        budget.seed(message.chunk_ms_estimate)
    batch = _batch_to_extract(flow, message)
    if batch is None:
        return
    with flow.source() as source:
        if batch.columns is None:
            # the columns as the source has them when the batch begins travel with its files
            columns = source.columns(batch.unit)
            flow.ledger.record_columns(batch, columns)
            batch = dataclasses.replace(batch, columns=columns)
        _chunk_loop(flow, source, batch, budget)


def _batch_to_extract(flow: Services, message: Scheduled | Continuation) -> Batch | None:
    trace = message.trace
    batch = flow.ledger.get_batch(trace.connector, trace.unit, trace.timelabel)
    if batch is None and isinstance(message, Scheduled):
        batch = flow.ledger.create_batch(trace, message.bounds, now(), message.backfill)
    if batch is None:
        raise TerminalError(
            f"batch {trace.batch_id} of {trace.unit} has no book-keeping item (expired?);"
            " schedule the range again with a backfill"
        )
    if batch.state is BatchState.EXTRACTED:
        logger.info("batch already extracted; publishing extracted again")
        publish_extracted(flow, batch)
        return None
    # A FAILED batch ignores its messages, redriven ones too: `main.py redrive` first sets
    # the batch back (Ledger.retry, a conditional FAILED -> SCHEDULED write).
    if batch.state not in (BatchState.SCHEDULED, BatchState.EXTRACTING):
        logger.info(
            "late message for a batch past extraction; ignored", extra={"state": batch.state}
        )
        return None
    started = flow.ledger.transition(batch, BatchState.EXTRACTING, now())
    if started is None:
        logger.info("batch moved on meanwhile; message ignored")
        return None
    checkpoints.reached(checkpoints.EXTRACT_STARTED)
    return started


def _chunk_loop(flow: Services, source: Source, batch: Batch, budget: Budget) -> None:
    while not _range_done(batch):
        if not budget.allows_chunk():
            _continue_later(flow, batch, "budget", 0, budget)
            return
        remaining_before = budget.remaining_ms()
        read = _read_chunk(flow, source, batch)
        if isinstance(read, WaitFor):
            _wait(flow, batch, read, budget)
            return
        chunk, position = read
        # measured on the invocation's own clock, the one the budget is checked against
        budget.note_chunk(remaining_before - budget.remaining_ms())
        if not flow.ledger.record_chunk(batch, chunk, position, now()):
            logger.info("another invocation recorded this chunk first; leaving the batch to it")
            return
        checkpoints.reached(checkpoints.EXTRACT_CHUNK_RECORDED)
        _count_chunk(chunk)
        batch = dataclasses.replace(
            batch,
            progress_seq=batch.progress_seq + 1,
            next_chunk=chunk.chunk + 1,
            position=position,
            rows=batch.rows + chunk.rows,
            bytes=batch.bytes + chunk.bytes,
            chunks=batch.chunks + 1,
        )
    _finish(flow, batch)


def _range_done(batch: Batch) -> bool:
    # a recorded chunk followed by no position means the source said the range is exhausted
    return batch.next_chunk > 0 and batch.position is None


class _Waiting(Exception):
    """Raised inside the writer to abort its upload: the source wrote nothing."""


def _read_chunk(
    flow: Services, source: Source, batch: Batch
) -> tuple[Chunk, dict[str, Any] | None] | WaitFor:
    keys = chunk_file_keys(batch.trace, batch.next_chunk, chunk_file_count(flow, batch))
    started = time.monotonic()
    read: ChunkRead | WaitFor | None = None
    try:
        with contextlib.ExitStack() as files:
            outs = [
                files.enter_context(GzipObjectWriter(flow.s3, flow.staging_bucket, key))
                for key in keys
            ]
            # one file is written as the source writes it; several get whole records in turn
            splitter = RecordSplitter(outs) if len(outs) > 1 else None
            sink = cast(IO[bytes], splitter or outs[0])
            read = source.read_chunk(batch.unit, batch.bounds, batch.position, sink)
            if isinstance(read, WaitFor):
                raise _Waiting
            if splitter is not None:
                splitter.close()
    except _Waiting:
        assert isinstance(read, WaitFor)
        return read
    except (ClientError, BotoCoreError) as error:
        named = keys[0] if len(keys) == 1 else f"{keys[0]} (and {len(keys) - 1} more files)"
        raise aws_error(error, f"writing s3://{flow.staging_bucket}/{named}") from error
    assert isinstance(read, ChunkRead)
    deleted = _write_deleted_keys(flow, batch, read.deleted_keys)
    checkpoints.reached(checkpoints.EXTRACT_CHUNK_WRITTEN)
    files_written: tuple[ManifestFile, ...] = ()
    if splitter is not None:
        files_written = tuple(
            ManifestFile(key=key, rows=rows, bytes=out.compressed_bytes)
            for key, rows, out in zip(keys, splitter.records, outs, strict=True)
        )
        _check_split(batch, read.rows, splitter.records)
    chunk = Chunk(
        chunk=batch.next_chunk,
        key=keys[0],
        rows=read.rows,
        bytes=sum(out.compressed_bytes for out in outs),
        uncompressed_bytes=sum(out.uncompressed_bytes for out in outs),
        seconds=time.monotonic() - started,
        deleted_keys_key=deleted,
        files=files_written,
    )
    return chunk, read.position


def chunk_file_count(flow: Services, batch: Batch) -> int:
    """How many files the next chunk goes into: one, or for Redshift a multiple of its slices.

    The chunk's size is not known before it is read, so the average of the batch's earlier
    chunks stands for it (chunks hold `chunk_rows` rows each, so they are alike); the first
    chunk gets one file per slice. A retried chunk sees the same recorded chunks, hence the
    same count and the same keys, and overwrites its files. A chunk smaller than a few
    splitter blocks (handlers.staging_split) leaves some of its files empty; they are left
    out of the manifest, which costs nothing at that size.
    """
    # Known shortcoming: every file of a chunk has a GzipObjectWriter of its own, with a
    # compressor thread and up to a part (8 MiB) and eight raw blocks (1 MiB each) in memory,
    # so memory grows by about 20 MiB a file: a cluster of 32 slices needs a function of well
    # over 640 MB. Bounding it would take writers sharing one compressor pool and smaller
    # parts; until then, size `lambda.memory` to the slice count.
    if flow.config.connector.destination.type != "redshift":
        return 1
    estimate = batch.bytes // batch.chunks if batch.chunks else 0
    return plan_file_count(estimate, flow.config.redshift_slices)


def chunk_file_keys(trace: TraceContext, chunk: int, count: int) -> list[str]:
    """The keys of a chunk's files: the chunk key itself for one, numbered siblings for more."""
    key = chunk_key(trace, chunk)
    if count == 1:
        return [key]
    stem = key.removesuffix(".csv.gz")
    return [f"{stem}.{part:03d}.csv.gz" for part in range(count)]


def _check_split(batch: Batch, rows: int, records: list[int]) -> None:
    # The splitter counts records by the quoting rules of the batch file format; a source
    # writing something else would be cut in the wrong places, so the batch must not load.
    if sum(records) != rows:
        raise TerminalError(
            f"chunk {batch.next_chunk} of {batch.unit}: the source reported {rows} rows but its"
            f" CSV holds {sum(records)} records; the source does not write the batch file format"
            " (see handlers/contracts/batch.py)"
        )


def _write_deleted_keys(flow: Services, batch: Batch, keys: list[list[Any]]) -> str | None:
    if not keys:
        return None
    key = deleted_keys_key(batch.trace, batch.next_chunk)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(keys)
    try:
        with GzipObjectWriter(flow.s3, flow.staging_bucket, key) as out:
            out.write(text.getvalue().encode())
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"writing s3://{flow.staging_bucket}/{key}") from error
    return key


def _wait(flow: Services, batch: Batch, wait: WaitFor, budget: Budget) -> None:
    if not flow.ledger.record_wait(batch, wait.position, now()):
        logger.info("another invocation moved the batch on; leaving it to that one")
        return
    delay = min(max(wait.delay_seconds, 0), MAX_DELAY_SECONDS)
    _continue_later(flow, batch, "wait", delay, budget)


def _continue_later(flow: Services, batch: Batch, reason: str, delay: int, budget: Budget) -> None:
    trace = batch.trace
    message = Continuation(
        trace=trace,
        reason=reason,
        chunk_ms_estimate=budget.slowest_chunk_ms,  # type: ignore[arg-type]
    )
    flow.send(runtime.EXTRACT_QUEUE_URL, message, delay_seconds=delay)
    logger.info("continuation sent", extra={"reason": reason, "delay_seconds": delay})
    checkpoints.reached(checkpoints.EXTRACT_CONTINUATION_SENT)


def _count_chunk(chunk: Chunk) -> None:
    count(ROWS, chunk.rows)
    count(BYTES, chunk.bytes)
    count(CHUNKS, 1)
    logger.info(
        "chunk extracted", extra={"chunk": chunk.chunk, "rows": chunk.rows, "bytes": chunk.bytes}
    )


def _finish(flow: Services, batch: Batch) -> None:
    manifest = _manifest(flow, batch)
    key = flow.write_manifest(batch.trace, manifest)
    checkpoints.reached(checkpoints.EXTRACT_MANIFEST_WRITTEN)
    extracted = flow.ledger.transition(batch, BatchState.EXTRACTED, now(), manifest_key=key)
    if extracted is None:
        latest = flow.ledger.get_batch(batch.connector, batch.unit, batch.timelabel)
        if latest is None or latest.state is not BatchState.EXTRACTED:
            logger.info("batch moved on meanwhile; not publishing extracted")
            return
        extracted = latest
    else:
        started = extracted.times.get("extract_started_at")
        if started:
            flow.ledger.record_timing(extracted, "extract_seconds", started, now())
            count(EXTRACT_SECONDS, _seconds_since(started))
    checkpoints.reached(checkpoints.EXTRACT_MARKED_EXTRACTED)
    publish_extracted(flow, extracted)
    logger.info("batch extracted", extra={"rows": extracted.rows, "files": len(manifest.files)})


def _manifest(flow: Services, batch: Batch) -> Manifest:
    chunks = flow.ledger.chunks(batch)
    return Manifest(
        connector=batch.connector,
        unit=batch.unit,
        timelabel=batch.timelabel,
        batch_id=batch.batch_id,
        bucket=flow.staging_bucket,
        files=[file for c in chunks for file in c.all_files if file.rows],
        columns=batch.columns or [],
        primary_key=primary_key(flow.config.connector, batch.unit),
        bounds=batch.bounds,
        cursor=cursor(flow.config.connector, batch.unit),
        deleted_keys_files=[
            ManifestFile(key=c.deleted_keys_key, rows=0, bytes=0)
            for c in chunks
            if c.deleted_keys_key
        ],
    )


def publish_extracted(flow: Services, batch: Batch) -> None:
    """Announce an EXTRACTED batch's manifest on the extracted topic."""
    message = Extracted(
        trace=TraceContext(
            connector=batch.connector,
            unit=batch.unit,
            timelabel=batch.timelabel,
            batch_id=batch.batch_id,
            chunk=batch.next_chunk,
        ),
        manifest_bucket=flow.staging_bucket,
        manifest_key=batch.manifest_key or manifest_key(batch.trace),
        rows=batch.rows,
        files=batch.chunks,
    )
    flow.publish(runtime.EXTRACTED_TOPIC_ARN, message)
    checkpoints.reached(checkpoints.EXTRACT_PUBLISHED)


def _seconds_since(iso: str) -> float:
    return (now() - datetime.fromisoformat(iso.replace("Z", "+00:00"))).total_seconds()
