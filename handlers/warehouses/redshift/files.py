"""Files as Redshift loads them best: how many to write, and the manifest COPY reads.

A COPY loads files in parallel, one file per slice at a time, so a batch loads fastest in
files of about equal size whose number is a multiple of the slice count, each between 1 MB
and 1 GB after compression.
https://docs.aws.amazon.com/redshift/latest/dg/t_splitting-data-files.html
"""

import json
import math
import posixpath
from collections.abc import Sequence

from handlers.contracts.batch import ManifestFile

MIN_FILE_BYTES = 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024
# Well inside AWS's range, and small enough that one extract invocation writes a file
# comfortably within its time limit.
TARGET_FILE_BYTES = 128 * 1024 * 1024

DATA_MANIFEST = "redshift.manifest"
DELETED_MANIFEST = "redshift-deleted.manifest"


def plan_file_count(
    estimated_bytes: int, slices: int, target_bytes: int = TARGET_FILE_BYTES
) -> int:
    """How many files of similar size to split a batch of `estimated_bytes` (gzip) into.

    The count is a multiple of `slices`, so that every slice loads the same share. Files
    stay near `target_bytes` and never above 1 GB; a batch too small to give every slice
    1 MB still gets one file per slice, since tiny files cost little and idle slices nothing.
    """
    if slices < 1:
        raise ValueError(f"slices must be at least 1, not {slices}")
    if not MIN_FILE_BYTES <= target_bytes <= MAX_FILE_BYTES:
        raise ValueError(f"target_bytes must lie between {MIN_FILE_BYTES} and {MAX_FILE_BYTES}")
    rounds = max(1, math.ceil(max(estimated_bytes, 0) / (slices * target_bytes)))
    return rounds * slices


def manifest_key(files: Sequence[ManifestFile], name: str) -> str:
    """The key of a Redshift manifest next to the batch's files (their common folder)."""
    folders = [posixpath.dirname(file.key) for file in files]
    folder = posixpath.commonpath(folders) if all(folders) else ""
    return posixpath.join(folder, name) if folder else name


def redshift_manifest(bucket: str, files: Sequence[ManifestFile]) -> bytes:
    """A COPY manifest listing every file as mandatory: a missing file fails the load.

    https://docs.aws.amazon.com/redshift/latest/dg/loading-data-files-using-manifest.html
    """
    entries = [{"url": f"s3://{bucket}/{file.key}", "mandatory": True} for file in files]
    return json.dumps({"entries": entries}, indent=1).encode("utf-8")
