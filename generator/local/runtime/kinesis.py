"""Lambda's Kinesis poller: read each shard in order, bisect and retry failed batches.

Behaviour follows the Lambda documentation for Kinesis event sources and their error handling:
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-errors.html
A shard advances only past records that were processed or discarded to the on-failure
destination, so that order within a shard holds.
"""

import base64
import json
import logging
import time
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from generator.local.runtime.invoker import Invocation, Invoker
from generator.local.runtime.wiring import DeployedFunction, StreamMapping

logger = logging.getLogger(__name__)

# MaximumRetryAttempts of -1 means "until the record expires"; the API's largest finite
# value stands in for it so that a poison record cannot hold a local run forever.
UNLIMITED_RETRIES = 10_000


class StreamPoller:
    """Polls every shard of one Kinesis event source mapping."""

    def __init__(
        self,
        mapping: StreamMapping,
        function: DeployedFunction,
        *,
        kinesis: Any,
        destinations: Any,
        invoker: Invoker,
        checkpoints: MutableMapping[str, str],
        region: str,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.kinesis = kinesis
        self.destinations = destinations  # callable(arn, message) that sends to SQS or SNS
        self.invoker = invoker
        self.checkpoints = checkpoints
        self.region = region
        self.invocations: list[Invocation] = []
        self.discarded = 0

    def poll(self) -> int:
        """Deliver one batch from each shard with unread records; the number of records read."""
        read = 0
        for shard_id in self._shard_ids():
            records = self._read(shard_id, self.mapping.batch_size)
            if records:
                self._deliver(shard_id, records, attempt=0)
                self.checkpoints[self._key(shard_id)] = records[-1]["SequenceNumber"]
                read += len(records)
        return read

    def has_unread_records(self) -> bool:
        return any(self._read(shard_id, 1) for shard_id in self._shard_ids())

    def _shard_ids(self) -> list[str]:
        shards = self.kinesis.list_shards(StreamARN=self.mapping.stream_arn)["Shards"]
        return [shard["ShardId"] for shard in shards]

    def _key(self, shard_id: str) -> str:
        return f"{self.mapping.uuid}/{shard_id}"

    def _read(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        iterator = self.kinesis.get_shard_iterator(
            StreamARN=self.mapping.stream_arn, ShardId=shard_id, **self._position(shard_id)
        )["ShardIterator"]
        records: list[dict[str, Any]] = self.kinesis.get_records(
            StreamARN=self.mapping.stream_arn, ShardIterator=iterator, Limit=limit
        )["Records"]
        return records

    def _position(self, shard_id: str) -> dict[str, Any]:
        checkpoint = self.checkpoints.get(self._key(shard_id))
        if checkpoint:
            return {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": checkpoint,
            }
        if self.mapping.starting_position == "TRIM_HORIZON":
            return {"ShardIteratorType": "TRIM_HORIZON"}
        # LATEST: what arrived after the mapping was created, as a poller running since then saw
        return {
            "ShardIteratorType": "AT_TIMESTAMP",
            "Timestamp": datetime.fromtimestamp(self.mapping.created, UTC),
        }

    def _deliver(self, shard_id: str, records: list[dict[str, Any]], attempt: int) -> None:
        records = self._drop_expired(shard_id, records)
        if not records:
            return
        invocation = self.invoker.invoke(self.function, self._event(shard_id, records))
        self.invocations.append(invocation)
        failed_from = self._first_failed(invocation, records)
        if failed_from is None:
            return

        remaining = records[failed_from:]
        if self.mapping.bisect_on_error and len(remaining) > 1:
            # bisected halves are retried as batches of their own, in shard order
            half = len(remaining) // 2
            self._deliver(shard_id, remaining[:half], attempt)
            self._deliver(shard_id, remaining[half:], attempt)
            return
        limit = self.mapping.max_retries if self.mapping.max_retries >= 0 else UNLIMITED_RETRIES
        if attempt < limit:
            self._deliver(shard_id, remaining, attempt + 1)
            return
        self._discard(shard_id, remaining, "RetryAttemptsExhausted", attempt + 1)

    def _first_failed(self, invocation: Invocation, records: list[dict[str, Any]]) -> int | None:
        if not invocation.ok:
            return 0
        if not self.mapping.report_batch_item_failures or not isinstance(invocation.response, dict):
            return None
        failures = invocation.response.get("batchItemFailures") or []
        sequence_numbers = [r["SequenceNumber"] for r in records]
        reported = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
        if not reported:
            return None
        if any(identifier not in sequence_numbers for identifier in reported):
            return 0  # an unknown identifier fails the whole batch
        # Lambda checkpoints before the lowest failed sequence number and retries from there
        return min(sequence_numbers.index(identifier) for identifier in reported)

    def _drop_expired(self, shard_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.mapping.max_record_age_seconds
        if limit < 0:
            return records
        now = time.time()
        expired = [r for r in records if now - _arrival(r) > limit]
        if expired:
            self._discard(shard_id, expired, "RecordAgeExceeded", 0)
        return [r for r in records if now - _arrival(r) <= limit]

    def _discard(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, attempts: int
    ) -> None:
        self.discarded += len(records)
        logger.warning(
            "%s: %d record(s) of %s discarded (%s)",
            self.function.name,
            len(records),
            shard_id,
            condition,
        )
        destination = self.mapping.on_failure_destination
        if destination:
            self.destinations(
                destination,
                json.dumps(self._failure_record(shard_id, records, condition, attempts)),
            )

    def _failure_record(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, attempts: int
    ) -> dict[str, Any]:
        # the invocation record Lambda sends to an on-failure destination: it names the
        # batch (shard and sequence range), never the records' data
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(records[0]),
                "approximateArrivalOfLastRecord": _iso(records[-1]),
                "batchSize": len(records),
                "streamArn": self.mapping.stream_arn,
            },
        }

    def _event(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        # the shape of a Kinesis record in a Lambda event:
        # https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#services-kinesis-event-example
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": record["PartitionKey"],
                        "sequenceNumber": record["SequenceNumber"],
                        "data": base64.b64encode(record["Data"]).decode("ascii"),
                        "approximateArrivalTimestamp": _arrival(record),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{shard_id}:{record['SequenceNumber']}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": self.function.role,
                    "awsRegion": self.region,
                    "eventSourceARN": self.mapping.stream_arn,
                }
                for record in records
            ]
        }


def _arrival(record: dict[str, Any]) -> float:
    arrived = record.get("ApproximateArrivalTimestamp")
    return arrived.timestamp() if isinstance(arrived, datetime) else time.time()


def _iso(record: dict[str, Any]) -> str:
    return datetime.fromtimestamp(_arrival(record), UTC).isoformat()
