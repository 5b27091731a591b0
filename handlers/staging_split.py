"""One CSV stream dealt into several staging files of similar size, cut only where a record ends.

Redshift loads a batch fastest from files of similar size whose number is a multiple of its
slice count (handlers.warehouses.redshift.files). A source writes its chunk as one stream, so
the extract hands it to a RecordSplitter, which passes blocks of about `block_bytes` to its
outputs in turn: every output gets every N-th block, and the outputs end up within about one
block of each other in size.

A block ends only at a record end. The batch file format (handlers.contracts.batch) quotes any
field holding a newline, a quote or a comma, and inside a quoted field a quote is doubled; so
a newline ends a record exactly when the quotes before it, counted from the start of the
stream, are even in number. The splitter keeps that count's parity as it goes, which also
tells it how many records each output received.
"""

from collections.abc import Sequence
from typing import Protocol

# Small enough that the files of a chunk of a few MB still come out even, large enough that
# handing a block over costs nothing next to compressing it.
DEFAULT_BLOCK_BYTES = 64 * 1024

_NEWLINE = ord("\n")
_QUOTE = ord('"')


class Writable(Protocol):
    """Where a block goes: a GzipObjectWriter, or any binary stream."""

    def write(self, data: bytes, /) -> int: ...


class RecordSplitter:
    """Writes whole CSV records round-robin to `outputs` in blocks; call close() at the end.

    `records[i]` and `bytes[i]` say what output i received. Blocks go to the outputs in
    turn starting with the first, so the same stream always splits the same way.
    """

    def __init__(self, outputs: Sequence[Writable], block_bytes: int = DEFAULT_BLOCK_BYTES):
        if not outputs:
            raise ValueError("a RecordSplitter needs at least one output")
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be at least 1, not {block_bytes}")
        self._outputs = list(outputs)
        self._block_bytes = block_bytes
        self.records = [0] * len(outputs)
        self.bytes = [0] * len(outputs)
        self._buffer = bytearray()
        self._block_start = 0  # where the block being gathered begins in the buffer
        self._record_end = 0  # just after its last whole record (= _block_start: none yet)
        self._block_records = 0  # whole records between _block_start and _record_end
        self._scanned = 0  # where the search for the next record end goes on
        self._quoted = False  # whether _scanned lies inside a quoted field
        self._turn = 0  # the output that receives the next block
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview | str) -> int:
        """Take any piece of the stream; whole blocks go out as soon as they are complete."""
        if self._closed:
            raise ValueError("write to a closed RecordSplitter")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._compact()
        self._buffer += data
        self._scan()
        return len(data)

    def close(self) -> None:
        """Hand the rest over: the whole records left, and a last record without a newline."""
        if self._closed:
            return
        self._closed = True
        end = len(self._buffer)
        if end > self._record_end:
            # a stream need not end in a newline: what follows the last one is its last record
            self._record_end = end
            self._block_records += 1
        if self._record_end > self._block_start:
            self._hand_over()

    def _scan(self) -> None:
        buffer = self._buffer
        start = self._scanned
        while (newline := buffer.find(_NEWLINE, start)) >= 0:
            if buffer.count(_QUOTE, start, newline) & 1:
                self._quoted = not self._quoted
            start = newline + 1
            if self._quoted:
                continue
            self._record_end = start
            self._block_records += 1
            if start - self._block_start >= self._block_bytes:
                self._hand_over()
        self._scanned = start

    def _hand_over(self) -> None:
        turn = self._turn
        block = bytes(self._buffer[self._block_start : self._record_end])
        self._outputs[turn].write(block)
        self.records[turn] += self._block_records
        self.bytes[turn] += len(block)
        self._turn = (turn + 1) % len(self._outputs)
        self._block_start = self._record_end
        self._block_records = 0

    def _compact(self) -> None:
        # drop what is handed over once per write, not once per block: a single large write
        # holding many blocks would otherwise move the rest of the buffer for every block
        shift = self._block_start
        if shift:
            del self._buffer[:shift]
            self._block_start = 0
            self._record_end -= shift
            self._scanned -= shift
