import gzip
import os

import boto3
import pytest
from moto import mock_aws

from handlers.staging import MIN_PART_SIZE, GzipObjectWriter, open_gzip_object

BUCKET = "staging"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_a_small_object_is_written_in_one_put_and_reads_back_unchanged(s3):
    with GzipObjectWriter(s3, BUCKET, "small.csv.gz") as out:
        out.write(b"1,a\n")
        out.write("2,\u00e9\n")

    stored = s3.get_object(Bucket=BUCKET, Key="small.csv.gz")["Body"].read()
    assert gzip.decompress(stored) == "1,a\n2,\u00e9\n".encode()
    assert out.uncompressed_bytes == len("1,a\n2,\u00e9\n".encode())
    assert out.compressed_bytes == len(stored)


def test_a_large_object_goes_up_in_multipart_parts_and_reads_back_unchanged(s3):
    # random bytes do not compress, so 12 MiB of them need three 5 MiB parts
    blocks = [os.urandom(1024 * 1024) for _ in range(12)]
    with GzipObjectWriter(s3, BUCKET, "large.csv.gz", part_size=MIN_PART_SIZE) as out:
        for block in blocks:
            out.write(block)

    with open_gzip_object(s3, BUCKET, "large.csv.gz") as reader:
        assert reader.read() == b"".join(blocks)
    head = s3.head_object(Bucket=BUCKET, Key="large.csv.gz")
    assert head["ContentLength"] == out.compressed_bytes
    assert "-3" in head["ETag"]  # a multipart ETag ends in the part count


def test_a_failed_write_leaves_no_object_and_no_open_upload(s3):
    writer = GzipObjectWriter(s3, BUCKET, "broken.csv.gz", part_size=MIN_PART_SIZE)
    with pytest.raises(RuntimeError, match="source broke"), writer as out:
        for _ in range(7):
            out.write(os.urandom(1024 * 1024))
        raise RuntimeError("source broke")

    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)


def test_a_part_size_below_the_s3_minimum_is_refused(s3):
    with pytest.raises(ValueError, match="at least"):
        GzipObjectWriter(s3, BUCKET, "x", part_size=1024)
