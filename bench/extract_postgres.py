"""Extraction benchmark: Reef's PostgreSQL source against `psql \\copy ... | gzip -1`.

Starts a throwaway PostgreSQL server, generates a table of mixed types (2 million rows by
default), then extracts it twice in the same run:

- Reef: `PostgresSource.read_chunk` in keyset chunks, each streamed through
  `handlers.staging.GzipObjectWriter` (compression on its own thread, multipart parts). The
  parts go to local files through a stand-in S3 client, because uploading to an emulator on
  the same two cores would measure the emulator, not Reef.
- Baseline: `psql -c "\\copy (SELECT ... ORDER BY id) TO STDOUT WITH CSV" | gzip -1`.

It prints rows per second for both, their ratio, the output sizes and Reef's peak memory
(the maximum resident set of the child process that runs the extraction).

    .venv/bin/python bench/extract_postgres.py [--rows 2000000] [--levels 1,3,6]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from generator.local.postgres import PostgresServer, free_port  # noqa: E402
from handlers.staging import DEFAULT_LEVEL  # noqa: E402

TABLE_DDL = """
CREATE TABLE bench_orders (
    id bigint PRIMARY KEY,
    updated_at timestamp with time zone NOT NULL,
    customer text NOT NULL,
    note text,
    amount numeric(12,2) NOT NULL,
    quantity integer NOT NULL,
    paid boolean NOT NULL,
    ordered_on date NOT NULL,
    reference uuid NOT NULL,
    attributes jsonb
)
"""

FILL = """
INSERT INTO bench_orders
SELECT n,
       timestamp with time zone '2026-01-01 00:00:00+00' + n * interval '1 second',
       'customer ' || (n %% 50000),
       CASE WHEN n %% 5 = 0 THEN NULL ELSE md5(n::text) || ', "quoted" ' || md5((n + 1)::text) END,
       (n %% 100000) / 100.0,
       n %% 1000,
       n %% 3 = 0,
       date '2020-01-01' + (n %% 2000),
       md5(n::text)::uuid,
       CASE WHEN n %% 4 = 0 THEN NULL
            ELSE jsonb_build_object('channel', 'web', 'items', n %% 7, 'gift', n %% 2 = 0) END
FROM generate_series(1, %(rows)s) AS n
"""

SELECT = (
    "SELECT id, updated_at, customer, note, amount, quantity, paid, ordered_on, reference,"
    " attributes FROM bench_orders ORDER BY id"
)


def start_server(folder: Path) -> PostgresServer:
    """A throwaway server with settings a little closer to a real one than the test defaults."""
    os.chmod(folder, 0o755)
    server = PostgresServer(folder / "data", free_port())
    server.start()
    return server


def create_table(dsn: str, rows: int) -> float:
    import psycopg2

    started = time.perf_counter()
    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute(TABLE_DDL)
        cursor.execute(FILL, {"rows": rows})
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE bench_orders")
    connection.close()
    return time.perf_counter() - started


def secret_of(dsn: str) -> dict[str, Any]:
    parts = dict(item.split("=", 1) for item in dsn.split())
    return {
        "engine": "postgres",
        "host": parts["host"],
        "port": int(parts["port"]),
        "username": parts["user"],
        "password": "",
        "dbname": parts["dbname"],
    }


class LocalParts:
    """The four S3 calls GzipObjectWriter makes, writing the object to a local file instead."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, key: str) -> Path:
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self._path(Key).write_bytes(Body)
        return {}

    def create_multipart_upload(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._path(Key).write_bytes(b"")
        return {"UploadId": Key}

    def upload_part(self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes):
        with self._path(Key).open("ab") as out:
            out.write(Body)
        return {"ETag": str(PartNumber)}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self._path(Key).unlink(missing_ok=True)
        return {}


def reef_extract(dsn: str, folder: Path, level: int, chunk_rows: int) -> dict[str, Any]:
    """Extract the table with Reef's source and staging writer; runs in a child process."""
    from handlers.contracts.batch import Bounds
    from handlers.contracts.spec import PostgresSource as Spec
    from handlers.sources.postgres import PostgresSource
    from handlers.staging import GzipObjectWriter

    spec = Spec.model_validate(
        {
            "type": "postgres",
            "secret": "bench",
            "tables": [{"table": "bench_orders", "primary_key": ["id"], "chunk_rows": chunk_rows}],
        }
    )
    s3 = LocalParts(folder)
    started = time.perf_counter()
    source = PostgresSource(spec, secret_of(dsn))
    source.columns("bench_orders")  # the extract handler reads the columns once per batch
    rows, position, number = 0, None, 0
    while True:
        key = f"reef/level{level}/{number:05d}.csv.gz"
        with GzipObjectWriter(s3, "bench", key, level=level) as out:
            read = source.read_chunk("bench_orders", Bounds(), position, out)  # type: ignore[arg-type]
        rows += read.rows
        number += 1
        if read.position is None:
            break
        position = read.position
    source.close()
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in (folder / "reef" / f"level{level}").iterdir())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": seconds, "bytes": size, "files": number, "peak_kib": peak_kib}


def psql_extract(dsn: str, folder: Path) -> dict[str, Any]:
    """The baseline: psql's client-side \\copy piped through gzip -1 into one file."""
    target = folder / "psql.csv.gz"
    psql = shutil.which("psql") or "psql"
    started = time.perf_counter()
    with target.open("wb") as out:
        dump = subprocess.Popen(
            [psql, dsn, "-X", "-q", "-c", f"\\copy ({SELECT}) TO STDOUT WITH CSV"],
            stdout=subprocess.PIPE,
        )
        packer = subprocess.Popen(["gzip", "-1"], stdin=dump.stdout, stdout=out)
        assert dump.stdout is not None
        dump.stdout.close()
        packer.wait()
        dump.wait()
    seconds = time.perf_counter() - started
    if dump.returncode or packer.returncode:
        raise SystemExit("psql | gzip failed")
    lines = subprocess.run(
        f"gzip -dc {target} | wc -l", shell=True, capture_output=True, text=True, check=True
    )
    return {"rows": int(lines.stdout), "seconds": seconds, "bytes": target.stat().st_size}


def run_child(dsn: str, folder: Path, level: int, chunk_rows: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        dsn,
        str(folder),
        str(level),
        str(chunk_rows),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        dsn, folder, level, chunk_rows = sys.argv[2:6]
        print(json.dumps(reef_extract(dsn, Path(folder), int(level), int(chunk_rows))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--levels",
        default=str(DEFAULT_LEVEL),
        help="gzip levels for Reef, such as 1,3,6; default: Reef's own",
    )
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reef-bench-") as temporary:
        folder = Path(temporary)
        server = start_server(folder)
        try:
            dsn = server.dsn
            print(f"generating {arguments.rows:,} rows ...", flush=True)
            print(f"  table filled in {create_table(dsn, arguments.rows):.1f} s", flush=True)
            baseline = psql_extract(dsn, folder)
            report("psql \\copy | gzip -1", baseline)
            for level in [int(level) for level in arguments.levels.split(",")]:
                reef = run_child(dsn, folder, level, arguments.chunk_rows)
                report(f"Reef, gzip level {level}", reef)
                ratio = (reef["rows"] / reef["seconds"]) / (baseline["rows"] / baseline["seconds"])
                print(f"  Reef / psql throughput: {ratio:.2f}")
                peak = reef["peak_kib"] / 1024
                print(f"  Reef peak memory (max RSS of its process): {peak:.0f} MiB")
                print(f"  files: {reef['files']} of {arguments.chunk_rows:,} rows")
        finally:
            server.stop()


def report(name: str, figures: dict[str, Any]) -> None:
    rate = figures["rows"] / figures["seconds"]
    size = f", {figures['bytes'] / 2**20:.1f} MiB gzip" if figures["bytes"] else ""
    print(
        f"{name}: {figures['rows']:,} rows in {figures['seconds']:.1f} s = {rate:,.0f} rows/s{size}"
    )


if __name__ == "__main__":
    main()
