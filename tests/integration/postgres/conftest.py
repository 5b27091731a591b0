"""Two real databases (a source and a warehouse) and the helpers that move batches between them."""

import gzip
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg2
import pytest

from generator.local.postgres import PostgresServer
from handlers.contracts.batch import Bounds, Manifest, ManifestFile
from handlers.contracts.spec import PostgresDestination, PostgresSource, PostgresTable
from handlers.sources.base import ChunkRead
from handlers.sources.postgres import PostgresSource as Source
from handlers.warehouses.base import Loaded, WriteMode
from handlers.warehouses.postgres import PostgresWarehouse
from tests.fakes.databases import fresh_database

_warehouse_numbers = itertools.count()


@pytest.fixture
def warehouse_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A second fresh database on the test server, standing in for the warehouse."""
    with fresh_database(
        postgres_server, f"warehouse_{os.getpid()}_{next(_warehouse_numbers)}"
    ) as dsn:
        yield dsn


def execute(dsn: str, statement: str, params: Any = None) -> None:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(statement, params)
    connection.close()


def fetch(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    connection.close()
    return rows


def source_spec(*tables: PostgresTable) -> PostgresSource:
    return PostgresSource(type="postgres", secret="reef/source", tables=list(tables))


def destination_spec(mode: WriteMode = "merge", schema: str = "Ware House") -> PostgresDestination:
    return PostgresDestination(type="postgres", secret="reef/warehouse", schema=schema, mode=mode)


@dataclass
class ExtractedBatch:
    """A batch as the extract loop would leave it: gzip files in memory and a manifest."""

    manifest: Manifest
    files: dict[str, bytes] = field(default_factory=dict)

    def open_file(self, key: str) -> IO[bytes]:
        return gzip.GzipFile(fileobj=io.BytesIO(self.files[key]), mode="rb")  # type: ignore[return-value]


_batch_numbers = itertools.count()


def extract(
    source: Source, table: PostgresTable, bounds: Bounds, timelabel: str = "2026-01-01T00:00"
) -> ExtractedBatch:
    """Read the whole range chunk by chunk, as the extract handler's loop does."""
    unit = table.unit
    batch_id = f"batch-{next(_batch_numbers)}"
    columns = source.columns(unit)
    files: dict[str, bytes] = {}
    entries: list[ManifestFile] = []
    position = None
    while True:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as out:
            read = source.read_chunk(unit, bounds, position, out)  # type: ignore[arg-type]
        assert isinstance(read, ChunkRead)
        if read.rows:
            key = f"batches/test/{unit}/{timelabel}/{batch_id}/{len(files):05d}.csv.gz"
            files[key] = buffer.getvalue()
            entries.append(ManifestFile(key=key, rows=read.rows, bytes=len(files[key])))
        if read.position is None:
            break
        position = read.position
    manifest = Manifest(
        connector="test",
        unit=unit,
        timelabel=timelabel,
        batch_id=batch_id,
        bucket="staging",
        files=entries,
        columns=columns,
        primary_key=list(table.primary_key),
        bounds=bounds,
        cursor=table.cursor,
    )
    return ExtractedBatch(manifest, files)


def load(warehouse: PostgresWarehouse, batch: ExtractedBatch, mode: WriteMode = "merge") -> Loaded:
    loaded = warehouse.load(batch.manifest, mode, batch.open_file)
    assert isinstance(loaded, Loaded)
    return loaded
