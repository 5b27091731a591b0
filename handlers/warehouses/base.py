"""The interface every warehouse implements; the load handler uses only this.

A load is one transaction: create or evolve the target table, stage the manifest's files,
merge (or append, or replace) into the target, and write the batch's row in the load log.
A batch already in the load log is not loaded again; that check runs inside the same
transaction, so two deliveries racing each other still load once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol

from handlers.contracts.batch import Manifest

WriteMode = Literal["merge", "append", "replace"]


@dataclass(frozen=True)
class Loaded:
    """The batch is in the target; `already` is true when the load log had it before."""

    rows: int
    already: bool = False


@dataclass(frozen=True)
class LoadPending:
    """The warehouse is still working (a long Redshift COPY): check again after the delay."""

    delay_seconds: int
    state: dict[str, Any]


class Warehouse(Protocol):
    """One connector's warehouse, opened with its resolved spec and secret."""

    def load(
        self,
        manifest: Manifest,
        mode: WriteMode,
        open_file: Callable[[str], IO[bytes]],
        state: dict[str, Any] | None = None,
    ) -> Loaded | LoadPending:
        """Load the manifest's files exactly once, in one transaction with the load log row."""
        ...

    def close(self) -> None: ...
