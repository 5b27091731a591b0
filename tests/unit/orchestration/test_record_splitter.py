"""The record splitter: whole CSV records dealt round-robin into files of similar size."""

import csv
import io
import random

import psycopg2
import pytest

from handlers.sources.csv_rows import csv_line
from handlers.staging_split import RecordSplitter


class Sink:
    """An output that keeps every block it is given."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.blocks.append(data)
        return len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.blocks)


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def split(data: bytes, outputs: int, block_bytes: int, piece_bytes: int) -> list[Sink]:
    """Feed `data` in pieces of `piece_bytes` to a splitter over `outputs` sinks."""
    sinks = [Sink() for _ in range(outputs)]
    splitter = RecordSplitter(sinks, block_bytes=block_bytes)
    for start in range(0, len(data), piece_bytes):
        splitter.write(data[start : start + piece_bytes])
    splitter.close()
    assert splitter.records == [len(records(sink.data)) for sink in sinks]
    assert splitter.bytes == [len(sink.data) for sink in sinks]
    return sinks


# Values a record boundary could be mistaken in: newlines, doubled quotes, commas, empty text.
AWKWARD = ["two\nlines", 'say ""hi""\n', "\n", ",\n,", "", 'a "quoted" word', "\n\n\nend"]


def awkward_rows(count: int) -> list[list[str | None]]:
    chooser = random.Random(7)
    return [
        [str(number), chooser.choice(AWKWARD), None if number % 5 == 0 else chooser.choice(AWKWARD)]
        for number in range(count)
    ]


@pytest.mark.parametrize("piece_bytes", [1, 7, 1000, 10**9])
@pytest.mark.parametrize("block_bytes", [1, 5, 64])
def test_a_quoted_newline_is_never_a_place_to_cut_whatever_the_block_and_write_sizes(
    block_bytes: int, piece_bytes: int
) -> None:
    rows = awkward_rows(200)
    data = b"".join(csv_line(row) for row in rows)

    sinks = split(data, outputs=3, block_bytes=block_bytes, piece_bytes=piece_bytes)

    # every block handed over is whole records, so every file is too
    for sink in sinks:
        for block in sink.blocks:
            assert block.endswith(b"\n")
            assert records(block)
    dealt = sorted(row for sink in sinks for row in records(sink.data))
    expected = sorted([[value or "" for value in row] for row in rows])
    assert dealt == expected


def test_the_files_of_a_large_stream_differ_in_size_by_at_most_about_one_block() -> None:
    rows = [[str(n), "x" * (n % 300), f"line {n}\nnext"] for n in range(20_000)]
    data = b"".join(csv_line(row) for row in rows)
    block_bytes = 16 * 1024

    sinks = split(data, outputs=4, block_bytes=block_bytes, piece_bytes=4096)

    sizes = [len(sink.data) for sink in sinks]
    longest_record = max(len(csv_line(row)) for row in rows)
    assert sum(sizes) == len(data)
    assert max(sizes) - min(sizes) <= block_bytes + longest_record
    assert min(sizes) > len(data) / 4 * 0.95


def test_blocks_go_to_the_outputs_in_turn_starting_with_the_first() -> None:
    data = b"".join(csv_line([str(n)]) for n in range(6))  # six records of 4 bytes

    sinks = split(data, outputs=2, block_bytes=4, piece_bytes=100)

    assert [sink.data for sink in sinks] == [b'"0"\n"2"\n"4"\n', b'"1"\n"3"\n"5"\n']


def test_a_stream_that_ends_without_a_newline_keeps_its_last_record() -> None:
    data = b'"1","a"\n"2","b\nc"'

    sinks = split(data, outputs=2, block_bytes=1, piece_bytes=3)

    assert [records(sink.data) for sink in sinks] == [[["1", "a"]], [["2", "b\nc"]]]


def test_a_stream_shorter_than_a_block_goes_whole_to_the_first_output() -> None:
    data = b"".join(csv_line([str(n)]) for n in range(3))

    sinks = split(data, outputs=4, block_bytes=1024, piece_bytes=2)

    assert [sink.data for sink in sinks] == [data, b"", b"", b""]


def test_postgresql_copy_csv_split_into_files_loads_back_unchanged(postgres_dsn: str) -> None:
    # COPY quotes only where it must, leaves NULL unquoted and empty text as "": the splitter
    # must cut that format at record ends too, and every file must load on its own.
    with psycopg2.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE source (id int, note text, extra text)")
        cursor.executemany(
            "INSERT INTO source VALUES (%s, %s, %s)",
            [(n, AWKWARD[n % len(AWKWARD)], None if n % 3 else "plain") for n in range(3000)],
        )
        # the driver writes into the splitter as the PostgreSQL source's COPY does
        sinks = [Sink() for _ in range(4)]
        splitter = RecordSplitter(sinks, block_bytes=2048)
        cursor.copy_expert("COPY source TO STDOUT WITH (FORMAT csv)", splitter)
        splitter.close()
        assert sum(splitter.records) == 3000

        cursor.execute("CREATE TABLE target (LIKE source)")
        for sink in sinks:
            assert sink.data, "every file gets records"
            cursor.copy_expert("COPY target FROM STDIN WITH (FORMAT csv)", io.BytesIO(sink.data))
        cursor.execute(
            "SELECT count(*) FROM (SELECT * FROM source EXCEPT ALL SELECT * FROM target) d"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*), count(extra), count(*) FILTER (WHERE note = '') FROM target"
        )
        empty_notes = sum(1 for n in range(3000) if AWKWARD[n % len(AWKWARD)] == "")
        assert cursor.fetchone() == (3000, 1000, empty_notes)


def test_a_splitter_needs_an_output() -> None:
    with pytest.raises(ValueError, match="at least one output"):
        RecordSplitter([])
