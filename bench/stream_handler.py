"""Records per second through the Kinesis stream handler, beside a bare baseline.

Two paths over the same generated Kinesis events (JSON records of the app-events example's
columns, a few percent of them malformed), side by side in one run:

1. baseline: base64-decode and json.loads each record, write it as a CSV line and gzip
   each batch in memory: the least work any stream landing must do;
2. Reef: the real stream handler (decode, check every field against the table's declared
   types, place in timelabels, gzip files and quarantine) against moto's S3 and DynamoDB
   in-process, so its figure includes the emulator's cost of each S3 put and ledger read.

Run: .venv/bin/python bench/stream_handler.py [--records 200000] [--batch-size 500]
"""

import argparse
import base64
import contextlib
import gzip
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# the handler's log lines would print per batch and time the terminal instead
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

import boto3
import yaml
from moto import mock_aws

from handlers.contracts import runtime
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import services, stream
from handlers.sources.csv_rows import csv_line
from handlers.staging import DEFAULT_LEVEL

SPEC = Path(__file__).resolve().parents[1] / "connectors" / "app-events.yaml"
START = 1_764_770_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=500)
    arguments = parser.parse_args()

    events = generate_events(arguments.records, arguments.batch_size)
    print(f"{arguments.records:,} records in batches of {arguments.batch_size}")

    baseline = timed(lambda: run_baseline(events))
    reef = timed(lambda: run_reef(events))
    for name, seconds in (
        ("baseline (decode, CSV, gzip)", baseline),
        ("Reef stream handler", reef),
    ):
        print(f"{name}: {arguments.records / seconds:,.0f} records/s ({seconds:.2f} s)")
    print(f"Reef / baseline throughput: {baseline / reef:.2f}")
    # A Kinesis shard takes at most 1,000 records a second, so this is the number of shards
    # one invocation at a time keeps up with.
    print(f"shards one invocation keeps up with: {arguments.records / reef / 1000:.0f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the process: {peak_mib:.0f} MiB")


def generate_events(count: int, batch_size: int) -> list[dict[str, Any]]:
    random.seed(7)
    records = []
    for number in range(count):
        document: Any = {
            "event_id": f"e-{number}",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + number / 100)),
            "user_id": random.randint(1, 10**9),
            "kind": random.choice(["click", "view", "buy"]),
            "payload": {"path": f"/items/{number % 977}", "ms": random.random()},
        }
        data = json.dumps(document).encode()
        if number % 50 == 0:
            data = data[:-5]  # malformed: these go to the quarantine
        records.append(
            {
                "kinesis": {
                    "sequenceNumber": f"{number:056d}",
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": START + number / 100 + 1,
                    "partitionKey": "p",
                },
                "eventID": f"shardId-000000000000:{number:056d}",
            }
        )
    return [
        {"Records": records[start : start + batch_size]} for start in range(0, count, batch_size)
    ]


def run_baseline(events: list[dict[str, Any]]) -> None:
    for event in events:
        lines = []
        for record in event["Records"]:
            try:
                document = json.loads(base64.b64decode(record["kinesis"]["data"]))
            except json.JSONDecodeError:
                continue
            lines.append(csv_line([str(value) for value in document.values()]))
        gzip.compress(b"".join(lines), compresslevel=DEFAULT_LEVEL)


def run_reef(events: list[dict[str, Any]]) -> None:
    # metrics go to stdout as embedded metric format, one line per invocation
    with mock_aws(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        deploy()
        for event in events:
            answer = stream.handler(event, None)
            assert answer == {"batchItemFailures": []}, answer


def deploy() -> None:
    """The staging bucket, the ledger table and the runtime config, as the stacks make them."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            runtime.CONNECTOR: "app-events",
            runtime.CONFIG_BUCKET: "staging",
            runtime.CONFIG_KEY: runtime.config_key("app-events"),
            runtime.STAGING_BUCKET: "staging",
            runtime.BOOKKEEPING_TABLE: "ledger",
        }
    )
    spec = ConnectorSpec.model_validate(yaml.safe_load(SPEC.read_text()))
    config = RuntimeConfig(
        environment="bench",
        connector=spec,
        schedule=spec.schedule,
        function_timeout_seconds=300,
        staging_expiry_days=7,
        bookkeeping_ttl_days=90,
        redshift_slices=2,
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="staging")
    s3.put_object(
        Bucket="staging",
        Key=runtime.config_key("app-events"),
        Body=config.model_dump_json(by_alias=True).encode(),
    )
    keys = [runtime.BOOKKEEPING_PARTITION_KEY, runtime.BOOKKEEPING_SORT_KEY]
    boto3.client("dynamodb").create_table(
        TableName="ledger",
        KeySchema=[
            {"AttributeName": name, "KeyType": kind}
            for name, kind in zip(keys, ["HASH", "RANGE"], strict=True)
        ],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    services.reset()


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
