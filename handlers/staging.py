"""Gzip files in the staging bucket, written and read as streams.

A chunk can be far larger than a function's memory, so it never sits in memory whole: the
writer compresses on a thread of its own while the caller keeps reading from the source
(zlib releases the GIL, and so does a database driver waiting on its socket), and uploads
the compressed bytes as S3 multipart parts. Memory stays bounded by the part size plus a few
raw blocks in flight, whatever the size of the chunk.
"""

import gzip
import queue
import threading
import zlib
from types import TracebackType
from typing import IO, Any

# S3 multipart parts must be at least 5 MiB, except the last.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
# gzip level 1, by measurement (bench/extract_postgres.py, 2,000,000 mixed rows, two runs on
# 2 cores): level 1 ran at 0.89 to 0.90 of `psql \copy | gzip -1`, level 3 at 0.76 to 0.83
# for 3% fewer bytes, level 6 at 0.43 to 0.45 for 16% fewer. Compression is what bounds the
# extraction, and a Lambda function's CPU is paid for by the millisecond; a few percent of
# transient staging storage is not worth it.
DEFAULT_LEVEL = 1
# Small writes (a database driver writes one per row) are gathered into blocks of this size
# before they cross to the compressor's thread, so the hand-over costs nothing per row.
_BLOCK_BYTES = 1024 * 1024
# Raw blocks waiting for the compressor; bounds memory when the source outruns compression.
_BLOCKS_IN_FLIGHT = 8
_GZIP_WBITS = 31  # zlib's way of asking for a gzip header and trailer
_END = None  # tells the compressor that no more blocks come


class GzipObjectWriter:
    """Writes one gzip object to S3: `with GzipObjectWriter(...) as out: out.write(data)`.

    On success the object exists whole; on an exception nothing is left behind (the multipart
    upload is aborted), so a retried chunk simply writes the same key again.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        key: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        level: int = DEFAULT_LEVEL,
    ):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.s3 = s3_client
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.uncompressed_bytes = 0
        self.compressed_bytes = 0
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=_BLOCKS_IN_FLIGHT)
        self._gathered = bytearray()
        self._pending = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._failure: BaseException | None = None
        self._worker = threading.Thread(target=self._compress_and_upload, daemon=True)

    def __enter__(self) -> "GzipObjectWriter":
        self._worker.start()
        return self

    def write(self, data: bytes | bytearray | memoryview | str) -> int:
        """Queue raw bytes for compression; blocks while the compressor is behind."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._gathered += data
        if len(self._gathered) >= _BLOCK_BYTES:
            self._hand_over()
        return len(data)

    def _hand_over(self) -> None:
        self._raise_worker_failure()
        self.uncompressed_bytes += len(self._gathered)
        self._blocks.put(bytes(self._gathered))
        self._gathered.clear()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None and self._gathered:
            self._hand_over()
        self._blocks.put(_END)
        self._worker.join()
        if kind is None and self._failure is None:
            self._finish()
            return
        self._abort()
        self._raise_worker_failure()

    def _compress_and_upload(self) -> None:
        try:
            while (block := self._blocks.get()) is not None:
                self._pending += self._compressor.compress(block)
                if len(self._pending) >= self.part_size:
                    self._upload_part()
            self._pending += self._compressor.flush()
        except BaseException as failure:  # re-raised on the caller's thread
            self._failure = failure
            self._drain()

    def _drain(self) -> None:
        while self._blocks.get() is not None:
            pass

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        part = bytes(self._pending)
        self._pending.clear()
        answer = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.compressed_bytes += len(part)

    def _finish(self) -> None:
        if self._upload_id is None:
            body = bytes(self._pending)
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body)
            self.compressed_bytes += len(body)
            return
        if self._pending:
            self._upload_part()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def _abort(self) -> None:
        if self._upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
            )
            self._upload_id = None

    def _raise_worker_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def open_gzip_object(s3_client: Any, bucket: str, key: str) -> IO[bytes]:
    """A streaming reader of the decompressed bytes of one gzip object."""
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    return gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[return-value]
