"""The interface every source implements; the extract and scheduler handlers use only this.

A source reads one unit (a table, an object, a stream's table) of one connector. The
extract handler owns the loop, the S3 files, the book-keeping and the time budget; a source
only fixes bounds and reads one chunk at a time into the stream it is given.
"""

from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from handlers.contracts.batch import Bounds, Column

# A source's own bookmark inside a batch (a keyset position, a Bulk API job id and locator).
# It travels in continuation messages, so it stays small and JSON-serializable.
Position = dict[str, Any]


@dataclass(frozen=True)
class ChunkRead:
    """A chunk was written; `position` is where the next one starts, None when the range is done."""

    rows: int
    position: Position | None
    deleted_keys: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class WaitFor:
    """Nothing to read yet (a remote job is running): come back after `delay_seconds`."""

    delay_seconds: int
    position: Position


class Source(Protocol):
    """One connector's source, opened with its resolved spec and secret."""

    def bounds(self, unit: str, watermark: str | None) -> Bounds:
        """The range of a new batch: after the watermark, up to the source's current maximum."""
        ...

    def columns(self, unit: str) -> list[Column]:
        """The unit's columns as the source has them now, in file order."""
        ...

    def read_chunk(
        self, unit: str, bounds: Bounds, position: Position | None, out: IO[bytes]
    ) -> ChunkRead | WaitFor:
        """Write the next chunk of the range as CSV (see contracts.batch) into `out`."""
        ...

    def close(self) -> None: ...
