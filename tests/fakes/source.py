"""An in-memory source table: rows with an integer id, a cursor and a name.

It reads incrementally by cursor in keyset chunks, writes PostgreSQL CSV like every real
source, can ask the extract handler to wait (as a remote job would), and advances a clock
per chunk so that tests control how long a chunk seems to take.
"""

import csv
import io
from dataclasses import dataclass, field
from typing import IO, Any

from handlers.contracts.batch import Bounds, Column
from handlers.sources.base import ChunkRead, Position, WaitFor

COLUMNS = [
    Column(name="id", type="integer", source_type="postgres", nullable=False),
    Column(name="updated", type="bigint", source_type="postgres", nullable=False),
    Column(name="name", type="text", source_type="postgres"),
]


@dataclass
class Clock:
    """Milliseconds used in the current invocation; the fake Lambda context reads it."""

    used_ms: int = 0


@dataclass
class SourceStore:
    """The source's rows, kept across invocations like a real database."""

    rows: dict[int, tuple[int, str]] = field(default_factory=dict)
    chunk_rows: int = 4
    chunk_ms: int = 100
    waits_before_first_chunk: int = 0
    clock: Clock = field(default_factory=Clock)
    chunk_reads: int = 0
    failure: Exception | None = None
    _cursor: int = 0

    def upsert(self, ids: range | list[int], name: str = "v1") -> None:
        """Insert or update rows; each change gets a cursor above every earlier one."""
        for row_id in ids:
            self._cursor += 1
            self.rows[row_id] = (self._cursor, f"{name}-{row_id}")


class FakeSource:
    """The Source interface over a SourceStore."""

    def __init__(self, store: SourceStore) -> None:
        self.store = store
        self.closed = False

    def bounds(self, unit: str, watermark: str | None) -> Bounds:
        cursors = [cursor for cursor, _ in self.store.rows.values()]
        upper = max(cursors, default=int(watermark or 0))
        return Bounds(lower=watermark, upper=str(upper))

    def columns(self, unit: str) -> list[Column]:
        return list(COLUMNS)

    def read_chunk(
        self, unit: str, bounds: Bounds, position: Position | None, out: IO[bytes]
    ) -> ChunkRead | WaitFor:
        if self.store.failure is not None:
            raise self.store.failure
        waited = (position or {}).get("waited", 0)
        if waited < self.store.waits_before_first_chunk:
            return WaitFor(delay_seconds=1, position={"job": "job-1", "waited": waited + 1})
        self.store.chunk_reads += 1
        self.store.clock.used_ms += self.store.chunk_ms
        rows = self._rows_after(bounds, (position or {}).get("after"))
        chunk = rows[: self.store.chunk_rows]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        for row_id, cursor, name in chunk:
            writer.writerow([row_id, cursor, name])
        out.write(text.getvalue().encode())
        more = len(rows) > len(chunk)
        after = [chunk[-1][1], chunk[-1][0]] if chunk else None
        return ChunkRead(rows=len(chunk), position={"after": after} if more else None)

    def _rows_after(self, bounds: Bounds, after: list[int] | None) -> list[tuple[int, int, str]]:
        lower = int(bounds.lower or 0)
        upper = int(bounds.upper or 0)
        rows = sorted(
            (cursor, row_id, name)
            for row_id, (cursor, name) in self.store.rows.items()
            if lower < cursor <= upper
        )
        if after is not None:
            rows = [row for row in rows if [row[0], row[1]] > after]
        return [(row_id, cursor, name) for cursor, row_id, name in rows]

    def close(self) -> None:
        self.closed = True


def factory(store: SourceStore) -> Any:
    """A registry factory that opens FakeSources over one store."""
    return lambda config, secret: FakeSource(store)
