"""An in-memory warehouse with a load log, committing each load atomically.

`append` keeps every loaded row, so a batch loaded twice shows up twice: the reliability
tests use it to prove that each source row arrives exactly once.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from handlers.contracts.batch import Manifest
from handlers.warehouses.base import Loaded, LoadPending, WriteMode


@dataclass
class WarehouseStore:
    """The warehouse's tables and load log, kept across invocations like a real database."""

    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    load_log: dict[str, int] = field(default_factory=dict)
    commits: int = 0
    failure: Exception | None = None
    pending_first: bool = False
    calls: int = 0


class FakeWarehouse:
    """The Warehouse interface over a WarehouseStore."""

    def __init__(self, store: WarehouseStore) -> None:
        self.store = store

    def load(
        self,
        manifest: Manifest,
        mode: WriteMode,
        open_file: Callable[[str], IO[bytes]],
        state: dict[str, Any] | None = None,
    ) -> Loaded | LoadPending:
        self.store.calls += 1
        if self.store.failure is not None:
            raise self.store.failure
        if self.store.pending_first and state is None:
            return LoadPending(delay_seconds=0, state={"statement": "copy-1"})
        if manifest.batch_id in self.store.load_log:
            return Loaded(rows=self.store.load_log[manifest.batch_id], already=True)
        rows = [row for file in manifest.files for row in _read(open_file(file.key))]
        table = list(self.store.tables.get(manifest.unit, []))
        if mode == "merge":
            keys = {row[0] for row in rows}
            table = [row for row in table if row[0] not in keys] + rows
        elif mode == "replace":
            table = rows
        else:
            table += rows
        # the commit: table and load log change together, or not at all
        self.store.tables[manifest.unit] = table
        self.store.load_log[manifest.batch_id] = len(rows)
        self.store.commits += 1
        return Loaded(rows=len(rows))

    def close(self) -> None:
        pass


def _read(stream: IO[bytes]) -> list[list[str]]:
    with stream:
        return list(csv.reader(io.StringIO(stream.read().decode())))


def factory(store: WarehouseStore) -> Any:
    """A registry factory that opens FakeWarehouses over one store."""
    return lambda config, secret: FakeWarehouse(store)
