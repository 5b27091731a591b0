"""The DynamoDB ledger: where every batch is, its chunks, and each unit's watermark and lease.

Items of one unit share the partition key "<connector>#<unit>" (IAM scopes functions by that
prefix); sort keys tell the kinds apart and sort batches and chunks by timelabel:

    batch#<timelabel>                  one per batch: state, bounds, counts, timings, error
    chunk#<timelabel>#<chunk:06d>      one per extracted chunk: S3 key, rows, bytes
    watermark                          the cursor value up to which the unit is loaded
    lease                              which batch may load the unit right now

Every state change is a conditional write, so a duplicate or late message cannot move a
batch backwards; chunk progress is guarded by a sequence number, so two invocations racing
on one batch cannot both record the same chunk.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError

from handlers.config import aws_error
from handlers.contracts.batch import Bounds, Column, ManifestFile
from handlers.contracts.messages import TraceContext
from handlers.contracts.runtime import (
    BOOKKEEPING_BATCH_INDEX,
)
from handlers.contracts.runtime import (
    BOOKKEEPING_PARTITION_KEY as PK,
)
from handlers.contracts.runtime import (
    BOOKKEEPING_SORT_KEY as SK,
)
from handlers.contracts.runtime import (
    BOOKKEEPING_TTL_ATTRIBUTE as TTL,
)


class BatchState(StrEnum):
    """Where a batch is; the order of the members is the order of the flow."""

    SCHEDULED = "SCHEDULED"
    EXTRACTING = "EXTRACTING"
    EXTRACTED = "EXTRACTED"
    LOADING = "LOADING"
    LOADED = "LOADED"
    FAILED = "FAILED"


# The states each state may be entered from. Re-entering EXTRACTING and LOADING is allowed
# because a retried invocation re-enters the step it died in.
ENTERED_FROM: dict[BatchState, frozenset[BatchState]] = {
    BatchState.EXTRACTING: frozenset({BatchState.SCHEDULED, BatchState.EXTRACTING}),
    BatchState.EXTRACTED: frozenset({BatchState.EXTRACTING}),
    BatchState.LOADING: frozenset({BatchState.EXTRACTED, BatchState.LOADING}),
    BatchState.LOADED: frozenset({BatchState.LOADING}),
    BatchState.FAILED: frozenset(
        {
            BatchState.SCHEDULED,
            BatchState.EXTRACTING,
            BatchState.EXTRACTED,
            BatchState.LOADING,
        }
    ),
}
FINISHED = frozenset({BatchState.LOADED, BatchState.FAILED})

# Where `Ledger.retry` may send a FAILED batch back to, by the step that runs it again:
# SCHEDULED re-extracts it from the start, EXTRACTED loads its manifest again.
RETRY_TO = frozenset({BatchState.SCHEDULED, BatchState.EXTRACTED})

# When each state is entered, this timestamp attribute is set (once).
_ENTERED_AT = {
    BatchState.SCHEDULED: "scheduled_at",
    BatchState.EXTRACTING: "extract_started_at",
    BatchState.EXTRACTED: "extracted_at",
    BatchState.LOADING: "load_started_at",
    BatchState.LOADED: "loaded_at",
    BatchState.FAILED: "failed_at",
}


def now_iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def partition(connector: str, unit: str) -> str:
    """The partition key of a unit's items."""
    return f"{connector}#{unit}"


def batch_sort_key(timelabel: str) -> str:
    return f"batch#{timelabel}"


def chunk_sort_key(timelabel: str, chunk: int) -> str:
    return f"chunk#{timelabel}#{chunk:06d}"


@dataclass(frozen=True)
class Batch:
    """A batch item as read from the ledger."""

    connector: str
    unit: str
    timelabel: str
    batch_id: str
    state: BatchState
    bounds: Bounds
    progress_seq: int
    next_chunk: int
    position: dict[str, Any] | None
    columns: list[Column] | None
    rows: int
    bytes: int
    chunks: int
    manifest_key: str | None
    error: str | None
    times: dict[str, str]
    extract_seconds: float | None
    load_seconds: float | None
    backfill: bool = False  # scheduled by `main.py backfill`: its load leaves the watermark
    previous_error: str | None = None  # the error of the failure before a retry

    @property
    def trace(self) -> TraceContext:
        """The trace context of this batch at its current chunk."""
        return TraceContext(
            connector=self.connector,
            unit=self.unit,
            timelabel=self.timelabel,
            batch_id=self.batch_id,
            chunk=self.next_chunk,
        )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def as_dict(self) -> dict[str, Any]:
        """A stable, JSON-ready view for `main.py status`."""
        return {
            "batch_id": self.batch_id,
            "timelabel": self.timelabel,
            "state": self.state.value,
            "rows": self.rows,
            "bytes": self.bytes,
            "chunks": self.chunks,
            "extract_seconds": self.extract_seconds,
            "load_seconds": self.load_seconds,
            "bounds": self.bounds.model_dump(),
            "times": dict(sorted(self.times.items())),
            "error": self.error,
        }


@dataclass(frozen=True)
class Chunk:
    """A chunk item: one gzip CSV file of a batch."""

    chunk: int
    key: str
    rows: int
    bytes: int
    uncompressed_bytes: int
    seconds: float
    deleted_keys_key: str | None
    # A chunk written as several files (for Redshift, see handlers.staging_split) lists them
    # here, `key` being the first; empty means the one file `key` holds the whole chunk.
    files: tuple[ManifestFile, ...] = ()
    written_at: str | None = None  # when the chunk was recorded, as book-keeping has it

    @property
    def all_files(self) -> list[ManifestFile]:
        """Every file of the chunk with its rows and bytes, in the order they were dealt."""
        if self.files:
            return list(self.files)
        return [ManifestFile(key=self.key, rows=self.rows, bytes=self.bytes)]


@dataclass(frozen=True)
class Watermark:
    """How far a unit is loaded: the upper bound of its newest loaded batch."""

    value: str | None
    timelabel: str
    batch_id: str


class Ledger:
    """Reads and conditional writes of the book-keeping table."""

    def __init__(self, table: Any, ttl_days: int) -> None:
        self._table = table
        self._ttl = timedelta(days=ttl_days)

    def _expires_at(self, now: datetime) -> int:
        return int((now + self._ttl).timestamp())

    def create_batch(
        self, trace: TraceContext, bounds: Bounds, now: datetime, backfill: bool = False
    ) -> Batch:
        """Record a SCHEDULED batch, or return the one a previous tick already recorded."""
        item: dict[str, Any] = {
            PK: partition(trace.connector, trace.unit),
            SK: batch_sort_key(trace.timelabel),
            "kind": "batch",
            "connector": trace.connector,
            "unit": trace.unit,
            "timelabel": trace.timelabel,
            "batch_id": trace.batch_id,
            "state": BatchState.SCHEDULED.value,
            "bounds": bounds.model_dump_json(),
            "progress_seq": 0,
            "next_chunk": 0,
            "rows": 0,
            "bytes": 0,
            "chunks": 0,
            "scheduled_at": now_iso(now),
            "updated_at": now_iso(now),
            TTL: self._expires_at(now),
        }
        if backfill:
            item["backfill"] = True
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(PK).not_exists())
        except ClientError as error:
            if not _condition_failed(error):
                raise aws_error(error, "recording a scheduled batch") from error
        except BotoCoreError as error:
            raise aws_error(error, "recording a scheduled batch") from error
        batch = self.get_batch(trace.connector, trace.unit, trace.timelabel)
        assert batch is not None  # written above, read strongly consistent
        return batch

    def get_batch(self, connector: str, unit: str, timelabel: str) -> Batch | None:
        """The batch item, read strongly consistent; None if there is none."""
        key = {PK: partition(connector, unit), SK: batch_sort_key(timelabel)}
        item = self._call("reading a batch", self._table.get_item, Key=key, ConsistentRead=True)
        return _batch(item["Item"]) if "Item" in item else None

    def find_batch(self, batch_id: str) -> tuple[Batch, list[Chunk]] | None:
        """The batch with this id and its chunk items, through the by-batch-id index.

        The index is eventually consistent (DynamoDB GSIs are), so a batch recorded a moment
        ago may not show yet; the batch item is then read again from the table itself.
        """
        items = self._query_all(
            "finding a batch by id",
            IndexName=BOOKKEEPING_BATCH_INDEX,
            KeyConditionExpression=Key("batch_id").eq(batch_id),
            consistent=False,
        )
        found = [item for item in items if item.get("kind") == "batch"]
        if not found:
            return None
        indexed = _batch(found[0])
        batch = self.get_batch(indexed.connector, indexed.unit, indexed.timelabel) or indexed
        chunks = sorted(
            (_chunk(item) for item in items if item.get("kind") == "chunk"),
            key=lambda chunk: chunk.chunk,
        )
        return batch, [chunk for chunk in chunks if chunk.chunk < batch.next_chunk]

    def retry(self, batch: Batch, to: BatchState, now: datetime) -> Batch | None:
        """Send a FAILED batch back to SCHEDULED or EXTRACTED, so that its step runs again.

        Conditional on the batch still being FAILED (None otherwise). Back to SCHEDULED, its
        extraction starts over: chunks, counts, columns and position are cleared, and the
        progress sequence moves on so that a late writer of the failed attempt cannot record
        a chunk. Back to EXTRACTED, it needs its manifest (it was extracted before it failed).
        The error moves to `previous_error`, and `retried_at` says when.
        """
        if to not in RETRY_TO:
            raise ValueError(f"a FAILED batch goes back to SCHEDULED or EXTRACTED, not {to}")
        names = {"#state": "state", "#error": "error"}
        values: dict[str, Any] = {
            ":to": to.value,
            ":failed": BatchState.FAILED.value,
            ":now": now_iso(now),
            # a FAILED batch's error never changes (FAILED is not entered twice)
            ":previous": batch.error or "",
        }
        sets = [
            "#state = :to",
            "updated_at = :now",
            "retried_at = :now",
            "previous_error = :previous",
        ]
        removes = ["#error", "failed_at"]
        condition = "#state = :failed"
        if to is BatchState.SCHEDULED:
            names.update({"#rows": "rows", "#bytes": "bytes", "#chunks": "chunks"})
            values.update({":zero": 0, ":one": 1})
            sets += [
                "progress_seq = progress_seq + :one",
                "next_chunk = :zero",
                "#rows = :zero",
                "#bytes = :zero",
                "#chunks = :zero",
            ]
            removes += [
                "#position",
                "#columns",
                "extract_started_at",
                "extracted_at",
                "extract_seconds",
                "manifest_key",
            ]
            names.update({"#position": "position", "#columns": "columns"})
        else:
            removes += ["load_started_at", "load_seconds"]
            condition += " AND attribute_exists(manifest_key)"
        update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)}"
        return self._conditional_update(batch, update, condition, names, values)

    def latest_batches(self, connector: str, unit: str, limit: int) -> list[Batch]:
        """The unit's newest batches, newest first."""
        result = self._call(
            "listing batches",
            self._table.query,
            KeyConditionExpression=Key(PK).eq(partition(connector, unit))
            & Key(SK).begins_with("batch#"),
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [_batch(item) for item in result.get("Items", [])]

    def unfinished_before(self, connector: str, unit: str, timelabel: str) -> list[Batch]:
        """Batches of the unit with an earlier timelabel that are neither LOADED nor FAILED."""
        items = self._query_all(
            "listing earlier batches",
            KeyConditionExpression=Key(PK).eq(partition(connector, unit))
            & Key(SK).between("batch#", batch_sort_key(timelabel)),
        )
        batches = [_batch(item) for item in items if item["timelabel"] < timelabel]
        return [batch for batch in batches if not batch.finished]

    def transition(
        self, batch: Batch, to: BatchState, now: datetime, **attributes: Any
    ) -> Batch | None:
        """Move the batch to `to` if its current state allows; None if it has moved on."""
        names = {"#state": "state", "#updated": "updated_at", "#entered": _ENTERED_AT[to]}
        values: dict[str, Any] = {":to": to.value, ":now": now_iso(now)}
        sets = ["#state = :to", "#updated = :now", "#entered = if_not_exists(#entered, :now)"]
        for number, (name, value) in enumerate(sorted(attributes.items())):
            names[f"#a{number}"] = name
            values[f":a{number}"] = _dynamo_value(value)
            sets.append(f"#a{number} = :a{number}")
        sources = sorted(state.value for state in ENTERED_FROM[to])
        values.update({f":from{number}": state for number, state in enumerate(sources)})
        allowed = ", ".join(f":from{number}" for number in range(len(sources)))
        return self._conditional_update(
            batch, f"SET {', '.join(sets)}", f"#state IN ({allowed})", names, values
        )

    def record_timing(self, batch: Batch, attribute: str, started: str, now: datetime) -> None:
        """Store the seconds from an ISO time on the batch until now (extract/load duration)."""
        seconds = (now - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
        self._call(
            "recording a duration",
            self._table.update_item,
            Key=_batch_key(batch),
            UpdateExpression="SET #a = :s",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":s": Decimal(str(round(seconds, 3)))},
        )

    def record_columns(self, batch: Batch, columns: list[Column]) -> None:
        """Keep the columns the source reported when the batch began."""
        document = json.dumps([column.model_dump() for column in columns])
        self._call(
            "recording columns",
            self._table.update_item,
            Key=_batch_key(batch),
            UpdateExpression="SET #c = :c",
            ExpressionAttributeNames={"#c": "columns"},
            ExpressionAttributeValues={":c": document},
        )

    def record_chunk(
        self, batch: Batch, chunk: Chunk, position: dict[str, Any] | None, now: datetime
    ) -> bool:
        """Record a written chunk and the position after it, if nobody else did first."""
        chunk_item = {
            PK: partition(batch.connector, batch.unit),
            SK: chunk_sort_key(batch.timelabel, chunk.chunk),
            "kind": "chunk",
            "batch_id": batch.batch_id,
            "chunk": chunk.chunk,
            "key": chunk.key,
            "rows": chunk.rows,
            "bytes": chunk.bytes,
            "uncompressed_bytes": chunk.uncompressed_bytes,
            "seconds": Decimal(str(round(chunk.seconds, 3))),
            "written_at": now_iso(now),
            TTL: self._expires_at(now),
        }
        if chunk.deleted_keys_key:
            chunk_item["deleted_keys_key"] = chunk.deleted_keys_key
        if chunk.files:
            chunk_item["files"] = [file.model_dump() for file in chunk.files]
        progress = self._progress_update(batch, position, now)
        progress["UpdateExpression"] += (
            ", next_chunk = :next, #rows = #rows + :rows, #bytes = #bytes + :bytes,"
            " #chunks = #chunks + :one"
        )
        progress["ExpressionAttributeNames"].update(
            {"#rows": "rows", "#bytes": "bytes", "#chunks": "chunks"}
        )
        progress["ExpressionAttributeValues"].update(
            {":next": chunk.chunk + 1, ":rows": chunk.rows, ":bytes": chunk.bytes, ":one": 1}
        )
        return self._transact(
            "recording a chunk",
            [{"Put": {"TableName": self._table.name, "Item": chunk_item}}, {"Update": progress}],
        )

    def record_wait(self, batch: Batch, position: dict[str, Any], now: datetime) -> bool:
        """Record a source's position while it waits for a remote job, if nobody else did."""
        return self._transact(
            "recording a wait", [{"Update": self._progress_update(batch, position, now)}]
        )

    def chunks(self, batch: Batch) -> list[Chunk]:
        """The batch's chunk items, in chunk order, up to its recorded progress."""
        items = self._query_all(
            "listing chunks",
            KeyConditionExpression=Key(PK).eq(partition(batch.connector, batch.unit))
            & Key(SK).begins_with(f"chunk#{batch.timelabel}#"),
        )
        chunks = [_chunk(item) for item in items]
        return [chunk for chunk in chunks if chunk.chunk < batch.next_chunk]

    def watermark(self, connector: str, unit: str) -> Watermark | None:
        """The unit's watermark; None before its first load."""
        key = {PK: partition(connector, unit), SK: "watermark"}
        item = self._call("reading a watermark", self._table.get_item, Key=key, ConsistentRead=True)
        if "Item" not in item:
            return None
        found = item["Item"]
        return Watermark(found.get("value"), found["timelabel"], found["batch_id"])

    def advance_watermark(self, batch: Batch, now: datetime) -> bool:
        """Move the unit's watermark to the batch's upper bound, never back to an older one."""
        try:
            self._table.put_item(
                Item={
                    PK: partition(batch.connector, batch.unit),
                    SK: "watermark",
                    "kind": "watermark",
                    "value": batch.bounds.upper,
                    "timelabel": batch.timelabel,
                    "batch_id": batch.batch_id,
                    "updated_at": now_iso(now),
                },
                ConditionExpression=Attr(PK).not_exists() | Attr("timelabel").lte(batch.timelabel),
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise aws_error(error, "advancing a watermark") from error
        return True

    def acquire_lease(self, batch: Batch, seconds: int, now: datetime) -> bool:
        """Take the unit's load lease for this batch if it is free, expired or already ours."""
        try:
            self._table.put_item(
                Item={
                    PK: partition(batch.connector, batch.unit),
                    SK: "lease",
                    "kind": "lease",
                    "holder": batch.batch_id,
                    "timelabel": batch.timelabel,
                    "lease_until": int(now.timestamp()) + seconds,
                },
                ConditionExpression=Attr(PK).not_exists()
                | Attr("holder").eq(batch.batch_id)
                | Attr("lease_until").lt(int(now.timestamp())),
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise aws_error(error, "taking a load lease") from error
        return True

    def lease(self, connector: str, unit: str) -> tuple[str, str] | None:
        """The (batch id, timelabel) holding the unit's load lease, if any."""
        key = {PK: partition(connector, unit), SK: "lease"}
        item = self._call("reading a lease", self._table.get_item, Key=key, ConsistentRead=True)
        if "Item" not in item:
            return None
        return item["Item"]["holder"], item["Item"]["timelabel"]

    def release_lease(self, connector: str, unit: str, holder: str) -> None:
        """Give the unit's load lease back, if `holder` (a batch id) still holds it."""
        try:
            self._table.delete_item(
                Key={PK: partition(connector, unit), SK: "lease"},
                ConditionExpression=Attr("holder").eq(holder),
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise aws_error(error, "releasing a load lease") from error

    def _progress_update(
        self, batch: Batch, position: dict[str, Any] | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "TableName": self._table.name,
            "Key": _batch_key(batch),
            "UpdateExpression": "SET progress_seq = :seq_next, #pos = :pos, updated_at = :now",
            "ConditionExpression": "progress_seq = :seq AND #state = :extracting",
            "ExpressionAttributeNames": {"#pos": "position", "#state": "state"},
            "ExpressionAttributeValues": {
                ":seq": batch.progress_seq,
                ":seq_next": batch.progress_seq + 1,
                ":pos": json.dumps(position) if position is not None else None,
                ":now": now_iso(now),
                ":extracting": BatchState.EXTRACTING.value,
            },
        }

    def _conditional_update(
        self,
        batch: Batch,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> Batch | None:
        try:
            result = self._table.update_item(
                Key=_batch_key(batch),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise aws_error(error, f"updating batch {batch.batch_id}") from error
        except BotoCoreError as error:
            raise aws_error(error, f"updating batch {batch.batch_id}") from error
        return _batch(result["Attributes"])

    def _transact(self, doing: str, items: list[dict[str, Any]]) -> bool:
        try:
            self._table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                return False
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                # cancelled by a conflicting write to the same item: the other writer won
                return False
            raise aws_error(error, doing) from error
        except BotoCoreError as error:
            raise aws_error(error, doing) from error
        return True

    def _query_all(self, doing: str, consistent: bool = True, **query: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            # a global secondary index cannot be read strongly consistent
            result = self._call(doing, self._table.query, ConsistentRead=consistent, **query)
            items.extend(result.get("Items", []))
            if "LastEvaluatedKey" not in result:
                return items
            query["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    @staticmethod
    def _call(doing: str, operation: Any, **arguments: Any) -> dict[str, Any]:
        try:
            return operation(**arguments)  # type: ignore[no-any-return]
        except (ClientError, BotoCoreError) as error:
            raise aws_error(error, doing) from error


def _condition_failed(error: ClientError) -> bool:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


def _batch_key(batch: Batch) -> dict[str, str]:
    return {PK: partition(batch.connector, batch.unit), SK: batch_sort_key(batch.timelabel)}


def _dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    return value


def _optional_float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _batch(item: dict[str, Any]) -> Batch:
    position = item.get("position")
    columns = item.get("columns")
    return Batch(
        connector=item["connector"],
        unit=item["unit"],
        timelabel=item["timelabel"],
        batch_id=item["batch_id"],
        state=BatchState(item["state"]),
        bounds=Bounds.model_validate_json(item["bounds"]),
        progress_seq=int(item.get("progress_seq", 0)),
        next_chunk=int(item.get("next_chunk", 0)),
        position=json.loads(position) if position else None,
        columns=[Column.model_validate(c) for c in json.loads(columns)] if columns else None,
        rows=int(item.get("rows", 0)),
        bytes=int(item.get("bytes", 0)),
        chunks=int(item.get("chunks", 0)),
        manifest_key=item.get("manifest_key"),
        error=item.get("error"),
        times={name: item[name] for name in (*_ENTERED_AT.values(), "retried_at") if name in item},
        extract_seconds=_optional_float(item.get("extract_seconds")),
        load_seconds=_optional_float(item.get("load_seconds")),
        backfill=bool(item.get("backfill", False)),
        previous_error=item.get("previous_error") or None,
    )


def _chunk(item: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk=int(item["chunk"]),
        key=item["key"],
        rows=int(item["rows"]),
        bytes=int(item["bytes"]),
        uncompressed_bytes=int(item.get("uncompressed_bytes", 0)),
        seconds=float(item.get("seconds", 0)),
        deleted_keys_key=item.get("deleted_keys_key"),
        files=tuple(
            ManifestFile(key=file["key"], rows=int(file["rows"]), bytes=int(file["bytes"]))
            for file in item.get("files", [])
        ),
        written_at=item.get("written_at"),
    )
