"""Load benchmark: Reef's PostgreSQL warehouse against `gzip -dc | psql \\copy ... FROM STDIN`.

Starts a throwaway PostgreSQL server, generates the same table as the extraction benchmark,
extracts it with Reef into local gzip CSV files, and loads those files into a second
database three ways, in the same run:

- Reef, first load: `PostgresWarehouse.load` in merge mode into a table it creates (staging
  table, delete of matching keys, insert of the latest version per key, load log, commit).
- Reef, merge over existing keys: the same files again as a new batch, so that every row
  replaces one already there.
- Baseline: `gzip -dc <files> | psql -c "\\copy t FROM STDIN WITH CSV"` into an empty table
  with the same columns and primary key.

    .venv/bin/python bench/load_postgres.py [--rows 2000000]
"""

import argparse
import gzip
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_postgres import (
    REPOSITORY,
    TABLE_DDL,
    create_table,
    reef_extract,
    report,
    secret_of,
    start_server,
)

sys.path.insert(0, str(REPOSITORY))


def create_database(admin_dsn: str, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def manifest_for(dsn: str, folder: Path, batch_id: str) -> Any:
    from handlers.contracts.batch import Bounds, Manifest, ManifestFile
    from handlers.contracts.spec import PostgresSource as Spec
    from handlers.sources.postgres import PostgresSource

    spec = Spec.model_validate(
        {
            "type": "postgres",
            "secret": "bench",
            "tables": [{"table": "bench_orders", "primary_key": ["id"]}],
        }
    )
    source = PostgresSource(spec, secret_of(dsn))
    columns = source.columns("bench_orders")
    source.close()
    files = sorted((folder / "reef" / "level1").iterdir())
    rows = _rows_per_file(files)
    return Manifest(
        connector="bench",
        unit="bench_orders",
        timelabel="2026-01-01T00:00",
        batch_id=batch_id,
        bucket="bench",
        files=[
            ManifestFile(key=str(path), rows=count, bytes=path.stat().st_size)
            for path, count in zip(files, rows, strict=True)
        ],
        columns=columns,
        primary_key=["id"],
        bounds=Bounds(),
        cursor="updated_at",
    )


def _rows_per_file(files: list[Path]) -> list[int]:
    counts = []
    for path in files:
        with gzip.open(path, "rb") as stream:
            counts.append(sum(1 for _ in stream))  # no field holds a newline in this table
    return counts


def reef_load(dsn: str, manifest: Any) -> dict[str, Any]:
    from handlers.contracts.spec import PostgresDestination
    from handlers.warehouses.postgres import PostgresWarehouse

    destination = PostgresDestination(type="postgres", secret="bench", schema="reef", mode="merge")
    warehouse = PostgresWarehouse(destination, secret_of(dsn))

    def open_file(key: str) -> IO[bytes]:
        return gzip.open(key, "rb")  # type: ignore[return-value]

    started = time.perf_counter()
    loaded = warehouse.load(manifest, "merge", open_file)
    seconds = time.perf_counter() - started
    warehouse.close()
    return {"rows": loaded.rows, "seconds": seconds, "bytes": 0}  # type: ignore[union-attr]


def psql_load(dsn: str, files: list[Path]) -> dict[str, Any]:
    import psycopg2

    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA baseline")
        cursor.execute(TABLE_DDL.replace("bench_orders", "baseline.bench_orders"))
    connection.close()
    psql = shutil.which("psql") or "psql"
    started = time.perf_counter()
    unpack = subprocess.Popen(["gzip", "-dc", *map(str, files)], stdout=subprocess.PIPE)
    load = subprocess.Popen(
        [psql, dsn, "-X", "-q", "-c", "\\copy baseline.bench_orders FROM STDIN WITH CSV"],
        stdin=unpack.stdout,
    )
    assert unpack.stdout is not None
    unpack.stdout.close()
    load.wait()
    unpack.wait()
    seconds = time.perf_counter() - started
    if load.returncode or unpack.returncode:
        raise SystemExit("gzip -dc | psql failed")
    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM baseline.bench_orders")
        rows = cursor.fetchone()[0]  # type: ignore[index]
    connection.close()
    return {"rows": rows, "seconds": seconds, "bytes": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reef-bench-") as temporary:
        folder = Path(temporary)
        server = start_server(folder)
        try:
            source_dsn = server.dsn
            print(f"generating {arguments.rows:,} rows ...", flush=True)
            print(f"  table filled in {create_table(source_dsn, arguments.rows):.1f} s")
            extracted = reef_extract(source_dsn, folder, 1, arguments.chunk_rows)
            print(f"  extracted into {extracted['files']} gzip files", flush=True)
            create_database(server.dsn, "warehouse")
            warehouse_dsn = server.dsn_for("warehouse")

            baseline = psql_load(warehouse_dsn, sorted((folder / "reef" / "level1").iterdir()))
            report("gzip -dc | psql \\copy FROM", baseline)
            first = reef_load(warehouse_dsn, manifest_for(source_dsn, folder, "first"))
            report("Reef merge, first load", first)
            again = reef_load(warehouse_dsn, manifest_for(source_dsn, folder, "again"))
            report("Reef merge over existing keys", again)
            for name, figures in (("first load", first), ("merge over existing", again)):
                ratio = (figures["rows"] / figures["seconds"]) / (
                    baseline["rows"] / baseline["seconds"]
                )
                print(f"  Reef {name} / psql throughput: {ratio:.2f}")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  Reef peak memory (max RSS of the benchmark process): {peak:.0f} MiB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
