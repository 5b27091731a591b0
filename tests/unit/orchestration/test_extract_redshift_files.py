"""Extracting for Redshift: every chunk in a multiple of the slice count of similar files."""

import csv
import dataclasses
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.bookkeeping import Batch, Ledger, open_ledger
from handlers.contracts import runtime
from handlers.contracts.batch import Bounds
from handlers.contracts.messages import TraceContext
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import ConnectorSpec
from handlers.errors import TransientError
from handlers.orchestration import extract, load, services
from handlers.staging_split import DEFAULT_BLOCK_BYTES
from tests.fakes import flow as fake_flow
from tests.fakes.flow import CONNECTOR, UNIT, Flow, deploy_flow, undeploy_flow
from tests.unit.orchestration.conftest import bodies, invoke, take, tick

TIMELABEL = "2024-05-01T10:00:00Z"
SLICES = 4
# rows of about 215 bytes: 5000 of them make a chunk of about 1 MB, sixteen blocks
NAME = "n" * 200
POSTGRES_SPEC = fake_flow.connector_spec


def redshift_spec(mode: str = "append", allow_overlap: bool = False) -> ConnectorSpec:
    """The fake flow's spec with a Redshift destination."""
    spec = POSTGRES_SPEC(mode, allow_overlap).model_dump(by_alias=True)
    spec["destination"] = {
        "type": "redshift",
        "secret": "reef/redshift",
        "database": "analytics",
        "cluster_identifier": "analytics",
        "schema": "shop",
        "mode": mode,
    }
    return ConnectorSpec.model_validate(spec)


@pytest.fixture
def redshift_flow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    monkeypatch.setattr(
        fake_flow, "connector_spec", lambda mode="append", allow_overlap=False: redshift_spec()
    )
    with mock_aws():
        deployed = deploy_flow(monkeypatch)
        _set_slices(deployed, SLICES)
        deployed.source.chunk_rows = 5000
        yield deployed
        undeploy_flow()


def _set_slices(flow: Flow, slices: int) -> None:
    s3 = boto3.client("s3")
    bucket = flow.environment[runtime.CONFIG_BUCKET]
    key = flow.environment[runtime.CONFIG_KEY]
    document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    config = RuntimeConfig.model_validate({**document, "redshift_slices": slices})
    s3.put_object(Bucket=bucket, Key=key, Body=config.model_dump_json(by_alias=True).encode())
    services.reset()


def staged(flow: Flow, key: str) -> bytes:
    bucket = flow.environment[runtime.STAGING_BUCKET]
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def staged_keys(flow: Flow) -> list[str]:
    bucket = flow.environment[runtime.STAGING_BUCKET]
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="batches/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def manifest_of(flow: Flow) -> dict[str, Any]:
    [message] = bodies(take(flow, "load"))
    return json.loads(staged(flow, message["manifest_key"]))  # type: ignore[no-any-return]


def test_each_chunk_for_redshift_is_written_as_a_multiple_of_the_slice_count_of_files(
    redshift_flow: Flow,
) -> None:
    redshift_flow.source.upsert(range(1, 12_001), name=NAME)  # chunks of 5000, 5000, 2000
    tick()

    assert invoke(redshift_flow, "extract", take(redshift_flow, "extract")) == {
        "batchItemFailures": []
    }

    manifest = manifest_of(redshift_flow)
    batch = open_ledger().get_batch(CONNECTOR, UNIT, TIMELABEL)
    assert batch is not None
    prefix = f"batches/shop/orders/20240501T100000Z/{batch.batch_id}"
    keys = [file["key"] for file in manifest["files"]]
    assert keys == [
        f"{prefix}/{chunk:06d}.{part:03d}.csv.gz" for chunk in range(3) for part in range(SLICES)
    ]
    assert len(keys) % SLICES == 0
    assert sum(file["rows"] for file in manifest["files"]) == batch.rows == 12_000
    ids: list[int] = []
    for chunk in range(3):
        texts = [gzip.decompress(staged(redshift_flow, key)) for key in keys[chunk * 4 :][:4]]
        sizes = [len(text) for text in texts]
        # dealt block by block, so the files of a chunk differ by about one block at most
        assert max(sizes) - min(sizes) <= DEFAULT_BLOCK_BYTES + 300
        for text, file in zip(texts, manifest["files"][chunk * 4 :], strict=False):
            rows = list(csv.reader(io.StringIO(text.decode())))
            assert len(rows) == file["rows"] > 0
            ids += [int(row[0]) for row in rows]
    assert sorted(ids) == list(range(1, 12_001))
    # the book-keeping chunk items list every file, and the totals add up
    chunks = open_ledger().chunks(batch)
    assert [[file.key for file in chunk.all_files] for chunk in chunks] == [
        keys[0:4],
        keys[4:8],
        keys[8:12],
    ]
    assert (
        sum(chunk.bytes for chunk in chunks)
        == batch.bytes
        == sum(file["bytes"] for file in manifest["files"])
    )


def test_a_chunk_retried_after_its_files_were_written_overwrites_the_same_files(
    redshift_flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    redshift_flow.source.upsert(range(1, 8_001), name=NAME)
    tick()
    [scheduled] = take(redshift_flow, "extract")
    record_chunk = Ledger.record_chunk
    calls = {"count": 0}

    def lose_the_second_chunk_once(self: Ledger, *args: Any, **kwargs: Any) -> bool:
        calls["count"] += 1
        if calls["count"] == 2:
            raise TransientError("book-keeping throttled")
        return record_chunk(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "record_chunk", lose_the_second_chunk_once)

    first = invoke(redshift_flow, "extract", [scheduled])
    written_before_retry = staged_keys(redshift_flow)
    second = invoke(redshift_flow, "extract", [scheduled])

    assert first == {"batchItemFailures": [{"itemIdentifier": scheduled["MessageId"]}]}
    assert second == {"batchItemFailures": []}
    manifest = manifest_of(redshift_flow)
    keys = [file["key"] for file in manifest["files"]]
    assert len(keys) == 2 * SLICES
    # the lost chunk's files were there before the retry, under the keys the retry used again
    assert set(keys) <= set(written_before_retry)
    assert staged_keys(redshift_flow) == sorted(
        [*keys, keys[0].rsplit("/", 1)[0] + "/manifest.json"]
    )
    assert sum(file["rows"] for file in manifest["files"]) == 8_000


def test_the_file_count_follows_the_destination_and_the_size_of_earlier_chunks(
    redshift_flow: Flow,
) -> None:
    flow = services.services()
    redshift_batch = dataclasses.replace(_a_batch(), chunks=2, bytes=2 * 700 * 1024 * 1024)
    postgres_flow = dataclasses.replace(
        flow,
        config=flow.config.model_copy(update={"connector": POSTGRES_SPEC()}),
    )

    assert extract.chunk_file_count(flow, _a_batch()) == SLICES  # nothing to go by: one round
    # chunks of 700 MB compressed: files near 128 MB need two rounds of four
    assert extract.chunk_file_count(flow, redshift_batch) == 2 * SLICES
    assert extract.chunk_file_count(postgres_flow, redshift_batch) == 1


def test_the_keys_of_a_chunk_are_its_own_key_alone_or_numbered_siblings() -> None:
    trace = TraceContext(
        connector=CONNECTOR, unit=UNIT, timelabel=TIMELABEL, batch_id="b1", chunk=0
    )

    assert extract.chunk_file_keys(trace, 3, 1) == [services.chunk_key(trace, 3)]
    assert [key.rsplit("/", 1)[1] for key in extract.chunk_file_keys(trace, 3, 2)] == [
        "000003.000.csv.gz",
        "000003.001.csv.gz",
    ]


def _a_batch() -> Batch:
    trace = TraceContext(
        connector=CONNECTOR, unit=UNIT, timelabel=TIMELABEL, batch_id="b1", chunk=0
    )
    return open_ledger().create_batch(trace, Bounds(), services.now())
