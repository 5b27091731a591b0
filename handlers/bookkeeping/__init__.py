"""Book-keeping: the DynamoDB ledger of batches, chunks, watermarks and load leases."""

import os

import boto3

from handlers.bookkeeping.ledger import (
    FINISHED,
    Batch,
    BatchState,
    Chunk,
    Ledger,
    Watermark,
)
from handlers.config import environment_variable
from handlers.contracts import runtime

__all__ = ["FINISHED", "Batch", "BatchState", "Chunk", "Ledger", "Watermark", "open_ledger"]

DEFAULT_TTL_DAYS = 90


def open_ledger(table_name: str | None = None, ttl_days: int = DEFAULT_TTL_DAYS) -> Ledger:
    """The ledger in the named table, or in $REEF_BOOKKEEPING_TABLE."""
    name = table_name or os.environ.get(runtime.BOOKKEEPING_TABLE)
    if not name:
        name = environment_variable(runtime.BOOKKEEPING_TABLE)
    return Ledger(boto3.resource("dynamodb").Table(name), ttl_days)
