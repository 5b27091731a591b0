"""Merge keeps the newest version, append and replace do what they say, deletes apply, and
driver errors reach the handlers as Reef's transient or terminal errors."""

import gzip
import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.contracts.batch import Bounds, ManifestFile
from handlers.contracts.spec import PostgresTable
from handlers.errors import TerminalError, TransientError
from handlers.sources.postgres import PostgresSource
from handlers.staging import GzipObjectWriter, open_gzip_object
from handlers.warehouses.postgres import PostgresWarehouse
from tests.fakes.databases import rds_secret
from tests.integration.postgres.conftest import (
    destination_spec,
    execute,
    extract,
    fetch,
    load,
    source_spec,
)

pytestmark = pytest.mark.postgres

ITEMS = PostgresTable.model_validate(
    {"table": "items", "primary_key": ["id"], "cursor": "version", "chunk_rows": 1000}
)
FULL_ITEMS = PostgresTable.model_validate(
    {"table": "items", "primary_key": ["id"], "chunk_rows": 1000}
)


@pytest.fixture
def source_dsn(postgres_dsn: str) -> str:
    execute(
        postgres_dsn,
        "CREATE TABLE items (id integer PRIMARY KEY, version integer NOT NULL, name text);"
        " INSERT INTO items SELECT n, 1, 'item ' || n FROM generate_series(1, 2500) AS n",
    )
    return postgres_dsn


@pytest.fixture
def source(source_dsn: str) -> Iterator[PostgresSource]:
    opened = PostgresSource(source_spec(ITEMS), rds_secret(source_dsn))
    yield opened
    opened.close()


@pytest.fixture
def full_source(source_dsn: str) -> Iterator[PostgresSource]:
    opened = PostgresSource(source_spec(FULL_ITEMS), rds_secret(source_dsn))
    yield opened
    opened.close()


def warehouse_rows(dsn: str) -> list[tuple[int, int, str]]:
    return fetch(dsn, 'SELECT id, version, name FROM "Ware House".items ORDER BY id, version')


def test_a_merge_never_replaces_a_row_with_an_older_version(
    source: PostgresSource, source_dsn: str, warehouse_dsn: str
) -> None:
    old = extract(source, ITEMS, source.bounds("items", None))
    execute(source_dsn, "UPDATE items SET version = 2, name = 'newer' WHERE id <= 10")
    new = extract(source, ITEMS, source.bounds("items", "1"))
    warehouse = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))

    load(warehouse, new)
    load(warehouse, old)  # a late, older batch
    warehouse.close()

    rows = warehouse_rows(warehouse_dsn)
    assert len(rows) == 2500
    assert rows[:10] == [(n, 2, "newer") for n in range(1, 11)]


def batch_of_lines(source: PostgresSource, table: PostgresTable, lines: list[bytes]) -> Any:
    batch = extract(source, table, source.bounds("items", None))
    batch.files = {"one.csv.gz": gzip.compress(b"".join(lines))}
    batch.manifest = batch.manifest.model_copy(
        update={"files": [ManifestFile(key="one.csv.gz", rows=len(lines), bytes=1)]}
    )
    return batch


def test_within_one_batch_the_version_with_the_highest_cursor_wins(
    source: PostgresSource, warehouse_dsn: str
) -> None:
    lines = [b"1,1,first\n", b"1,3,latest\n", b"1,2,middle\n"]
    warehouse = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))

    load(warehouse, batch_of_lines(source, ITEMS, lines))
    warehouse.close()

    assert warehouse_rows(warehouse_dsn) == [(1, 3, "latest")]


def test_within_one_batch_without_a_cursor_the_last_copy_of_a_key_wins(
    source: PostgresSource, warehouse_dsn: str
) -> None:
    lines = [b"1,1,first\n", b"1,3,third\n", b"1,2,last\n"]
    warehouse = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))

    load(warehouse, batch_of_lines(source, FULL_ITEMS, lines))
    warehouse.close()

    assert warehouse_rows(warehouse_dsn) == [(1, 2, "last")]


def test_append_adds_every_row_of_every_batch(source: PostgresSource, warehouse_dsn: str) -> None:
    warehouse = PostgresWarehouse(destination_spec("append"), rds_secret(warehouse_dsn))

    load(warehouse, extract(source, ITEMS, source.bounds("items", None)), mode="append")
    load(warehouse, extract(source, ITEMS, source.bounds("items", None)), mode="append")
    warehouse.close()

    assert len(warehouse_rows(warehouse_dsn)) == 5000


def test_replace_leaves_exactly_the_latest_batch(
    full_source: PostgresSource, source_dsn: str, warehouse_dsn: str
) -> None:
    warehouse = PostgresWarehouse(destination_spec("replace"), rds_secret(warehouse_dsn))
    load(warehouse, extract(full_source, FULL_ITEMS, Bounds()), mode="replace")
    execute(source_dsn, "DELETE FROM items WHERE id > 100")

    load(warehouse, extract(full_source, FULL_ITEMS, Bounds()), mode="replace")
    warehouse.close()

    assert [row[0] for row in warehouse_rows(warehouse_dsn)] == list(range(1, 101))


def test_deleted_keys_files_delete_their_rows_in_the_warehouse(
    full_source: PostgresSource, warehouse_dsn: str
) -> None:
    batch = extract(full_source, FULL_ITEMS, Bounds())
    batch.files["deleted.csv.gz"] = gzip.compress(b"3\n5\n99999\n")
    batch.manifest = batch.manifest.model_copy(
        update={"deleted_keys_files": [ManifestFile(key="deleted.csv.gz", rows=3, bytes=1)]}
    )
    warehouse = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))

    load(warehouse, batch)
    warehouse.close()

    ids = [row[0] for row in warehouse_rows(warehouse_dsn)]
    assert len(ids) == 2498 and 3 not in ids and 5 not in ids


def test_a_full_unit_reads_the_whole_table_in_primary_key_chunks(source_dsn: str) -> None:
    source = PostgresSource(source_spec(FULL_ITEMS), rds_secret(source_dsn))

    bounds = source.bounds("items", "ignored")
    batch = extract(source, FULL_ITEMS, bounds)
    source.close()

    assert bounds == Bounds()
    assert [file.rows for file in batch.manifest.files] == [1000, 1000, 500]
    ids = [
        int(line.split(b",")[0])
        for key in sorted(batch.files)
        for line in gzip.decompress(batch.files[key]).splitlines()
    ]
    assert ids == list(range(1, 2501))


def test_a_chunk_position_is_small_json_with_the_last_key_as_text(source: PostgresSource) -> None:
    read = source.read_chunk("items", Bounds(upper="1"), None, io.BytesIO())

    assert read.position == {"after": ["1", "1000"], "columns": ["id", "version", "name"]}


def test_a_batch_goes_through_s3_gzip_objects_and_back(
    source: PostgresSource, source_dsn: str, warehouse_dsn: str
) -> None:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="staging")
        batch = extract(source, ITEMS, source.bounds("items", None))
        for key, body in batch.files.items():
            with GzipObjectWriter(s3, "staging", key) as out:
                out.write(gzip.decompress(body))
        warehouse = PostgresWarehouse(destination_spec(), rds_secret(warehouse_dsn))

        warehouse.load(batch.manifest, "merge", lambda key: open_gzip_object(s3, "staging", key))
        warehouse.close()

    assert warehouse_rows(warehouse_dsn) == fetch(source_dsn, "SELECT * FROM items ORDER BY id")


def test_a_missing_source_table_is_a_terminal_error_naming_it(postgres_dsn: str) -> None:
    source = PostgresSource(source_spec(ITEMS), rds_secret(postgres_dsn))

    with pytest.raises(TerminalError, match=r"table public\.items not found"):
        source.columns("items")
    source.close()


def test_a_wrong_database_in_the_secret_is_a_terminal_error(postgres_dsn: str) -> None:
    secret = {**rds_secret(postgres_dsn), "dbname": "no_such_database"}

    with pytest.raises(TerminalError, match="no_such_database"):
        PostgresSource(source_spec(ITEMS), secret)


def test_an_unreachable_server_is_a_transient_error(postgres_dsn: str) -> None:
    secret = {**rds_secret(postgres_dsn), "port": 1}

    with pytest.raises(TransientError, match="connecting to database"):
        PostgresWarehouse(destination_spec(), secret)


def test_a_statement_timeout_is_a_transient_error(source_dsn: str) -> None:
    execute(source_dsn, "CREATE VIEW slow AS SELECT pg_sleep(1)::text AS id, 1 AS version")
    slow = PostgresTable.model_validate({"table": "slow", "primary_key": ["id"]})
    source = PostgresSource(source_spec(slow), rds_secret(source_dsn), statement_timeout_ms=100)

    with pytest.raises(TransientError, match="SQLSTATE 57014"):
        source.read_chunk("slow", Bounds(), None, io.BytesIO())
    source.close()
