"""Batches split into files Redshift loads in parallel, listed in a mandatory manifest."""

import json

import pytest

from handlers.contracts.batch import ManifestFile
from handlers.warehouses.redshift.files import (
    MAX_FILE_BYTES,
    MIN_FILE_BYTES,
    manifest_key,
    plan_file_count,
    redshift_manifest,
)

MB = 1024 * 1024
GB = 1024 * MB


@pytest.mark.parametrize("slices", [1, 2, 4, 16, 32])
@pytest.mark.parametrize("estimated", [0, 10_000, 5 * MB, 300 * MB, 7 * GB, 500 * GB])
def test_the_file_count_is_a_multiple_of_the_slices_and_files_stay_under_a_gigabyte(
    slices: int, estimated: int
) -> None:
    count = plan_file_count(estimated, slices)
    assert count % slices == 0
    assert estimated / count <= MAX_FILE_BYTES
    if estimated >= slices * MIN_FILE_BYTES * 2:
        assert estimated / count >= MIN_FILE_BYTES


def test_a_large_batch_gets_files_near_the_target_size() -> None:
    assert plan_file_count(1 * GB, 2) == 8  # 128 MB each
    assert plan_file_count(1 * GB, 2, target_bytes=512 * MB) == 2


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="slices"):
        plan_file_count(MB, 0)
    with pytest.raises(ValueError, match="target_bytes"):
        plan_file_count(MB, 2, target_bytes=2 * GB)


def test_the_manifest_lists_every_file_as_mandatory_next_to_the_files() -> None:
    files = [
        ManifestFile(key=f"batches/c/u/t/b/chunk-{n}.csv.gz", rows=1, bytes=1) for n in range(3)
    ]
    document = json.loads(redshift_manifest("bkt", files))
    assert document["entries"] == [
        {"url": f"s3://bkt/batches/c/u/t/b/chunk-{n}.csv.gz", "mandatory": True} for n in range(3)
    ]
    assert manifest_key(files, "redshift.manifest") == "batches/c/u/t/b/redshift.manifest"
