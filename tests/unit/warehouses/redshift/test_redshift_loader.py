"""Loading a batch through the Redshift Data API (moto, with what moto lacks added)."""

import gzip
import io
import json
from datetime import UTC, datetime
from typing import IO, Any

import pytest
from botocore.exceptions import ClientError

from handlers.errors import TerminalError, TransientError
from handlers.warehouses.base import Loaded, LoadPending
from handlers.warehouses.redshift import RedshiftWarehouse
from handlers.warehouses.redshift.data_api import DataApi, translate_client_error, translate_failure
from tests.unit.warehouses.redshift.conftest import (
    BUCKET,
    COPY_ROLE,
    FOLDER,
    SECRET,
    make_destination,
    make_manifest,
)

LOADED_AT = datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
GUARD = (
    'NOT EXISTS (SELECT 1 FROM "shop"."_reef_load_log" WHERE "connector" = \'shop-orders\''
    " AND \"unit\" = 'orders' AND \"batch_id\" = 'b-1')"
)
FIRST_LOAD = [
    'CREATE SCHEMA IF NOT EXISTS "shop"',
    'CREATE TABLE IF NOT EXISTS "shop"."_reef_load_log" ("connector" VARCHAR(128) NOT NULL,'
    ' "unit" VARCHAR(256) NOT NULL, "timelabel" VARCHAR(64) NOT NULL, "batch_id" VARCHAR(256)'
    ' NOT NULL, "row_count" BIGINT NOT NULL, "loaded_at" TIMESTAMPTZ NOT NULL,'
    ' PRIMARY KEY ("connector", "unit", "batch_id"))',
    'CREATE TABLE IF NOT EXISTS "shop"."orders" ("id" BIGINT NOT NULL, "note" VARCHAR(40),'
    ' "updated_at" TIMESTAMPTZ, PRIMARY KEY ("id"))',
    'CREATE TEMP TABLE "_reef_staging" (LIKE "shop"."orders")',
    f'COPY "_reef_staging" ("id", "note", "updated_at") FROM \'s3://{BUCKET}/{FOLDER}/redshift.manifest\''
    f" IAM_ROLE '{COPY_ROLE}' MANIFEST FORMAT AS CSV GZIP EMPTYASNULL DATEFORMAT 'auto'"
    " TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF",
    'DELETE FROM "shop"."orders" USING "_reef_staging" WHERE "shop"."orders"."id" ='
    ' "_reef_staging"."id" AND ("shop"."orders"."updated_at" IS NULL OR'
    ' "shop"."orders"."updated_at" <= "_reef_staging"."updated_at") AND ' + GUARD,
    'INSERT INTO "shop"."orders" ("id", "note", "updated_at") SELECT "id", "note", "updated_at"'
    ' FROM (SELECT "id", "note", "updated_at", ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY'
    ' "updated_at" DESC) AS "_reef_version" FROM "_reef_staging") AS "_reef_latest" WHERE'
    ' "_reef_version" = 1 AND NOT EXISTS (SELECT 1 FROM "shop"."orders" WHERE'
    ' "shop"."orders"."id" = "_reef_latest"."id") AND ' + GUARD,
    'INSERT INTO "shop"."_reef_load_log" ("connector", "unit", "timelabel", "batch_id",'
    " \"row_count\", \"loaded_at\") SELECT 'shop-orders', 'orders', '2024-05-01T12:00:00Z', 'b-1',"
    " 3, CAST('2024-05-01T12:05:00+00:00' AS TIMESTAMPTZ) WHERE " + GUARD,
]
COLUMN_NAMES = [
    "table_name", "column_name", "data_type", "character_maximum_length",
    "numeric_precision", "numeric_scale",
]  # fmt: skip
EXISTING_ORDERS = [
    ["orders", "id", "bigint", None, 64, 0],
    ["orders", "note", "character varying", 40, None, None],
    ["orders", "updated_at", "timestamp with time zone", None, None, None],
    ["_reef_load_log", "connector", "character varying", 128, None, None],
]


class Clock:
    """Time that passes only when the loader sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _warehouse(
    aws: dict[str, Any], clock: Clock | None = None, **destination: Any
) -> RedshiftWarehouse:
    clock = clock or Clock()
    return RedshiftWarehouse(
        make_destination(**destination),
        SECRET,
        COPY_ROLE,
        aws["redshift_data"],
        aws["s3"],
        poll_budget_seconds=10,
        sleep=clock.sleep,
        clock=clock,
        now=lambda: LOADED_AT,
    )


def _no_files(key: str) -> IO[bytes]:
    raise AssertionError(f"the load should not read {key}")


def test_a_first_load_sends_the_exact_statements_in_order_as_one_transaction(
    aws: dict[str, Any],
) -> None:
    fake = aws["redshift_data"]

    result = _warehouse(aws).load(make_manifest(), "merge", _no_files)

    assert result == Loaded(rows=3)
    assert fake.calls.count("BatchExecuteStatement") == 1
    inspect, transaction = fake.statements()
    assert "svv_columns" in inspect.query_string
    assert {p["name"]: p["value"] for p in inspect.query_parameters} == {
        "schema": "shop", "table": "orders", "log": "_reef_load_log",
    }  # fmt: skip
    assert transaction.batch_sqls == FIRST_LOAD
    assert transaction.cluster_identifier == "analytics"
    assert transaction.database == "analytics"
    assert transaction.secret_arn == SECRET


def test_the_copy_manifest_lists_every_batch_file_as_mandatory(aws: dict[str, Any]) -> None:
    _warehouse(aws).load(make_manifest(), "merge", _no_files)

    body = aws["s3"].get_object(Bucket=BUCKET, Key=f"{FOLDER}/redshift.manifest")["Body"].read()
    entries = json.loads(body)["entries"]
    assert [entry["url"] for entry in entries] == [
        f"s3://{BUCKET}/{FOLDER}/chunk-00000.csv.gz",
        f"s3://{BUCKET}/{FOLDER}/chunk-00001.csv.gz",
    ]
    assert all(entry["mandatory"] is True for entry in entries)


def test_a_second_delivery_of_a_loaded_batch_sends_no_copy(aws: dict[str, Any]) -> None:
    fake = aws["redshift_data"]
    fake.results = [
        ("svv_columns", COLUMN_NAMES, EXISTING_ORDERS),
        ('FROM "shop"."_reef_load_log"', ["row_count"], [[3]]),
    ]

    result = _warehouse(aws).load(make_manifest(), "merge", _no_files)

    assert result == Loaded(rows=3, already=True)
    assert "BatchExecuteStatement" not in fake.calls
    assert not any("COPY" in statement.query_string for statement in fake.statements())
    check = fake.statements()[-1]
    assert {p["name"]: p["value"] for p in check.query_parameters} == {
        "connector": "shop-orders", "unit": "orders", "batch_id": "b-1",
    }  # fmt: skip


def test_a_new_source_column_is_added_and_the_table_not_created_again(aws: dict[str, Any]) -> None:
    fake = aws["redshift_data"]
    fake.results = [("svv_columns", COLUMN_NAMES, EXISTING_ORDERS[1:2] + EXISTING_ORDERS[3:])]

    result = _warehouse(aws).load(make_manifest(), "merge", _no_files)

    assert result == Loaded(rows=3)
    sqls = fake.statements()[-1].batch_sqls
    assert not any(sql.startswith('CREATE TABLE IF NOT EXISTS "shop"."orders"') for sql in sqls)
    added = [sql for sql in sqls if sql.startswith("ALTER TABLE")]
    assert added == [
        'ALTER TABLE "shop"."orders" ADD COLUMN "id" BIGINT',
        'ALTER TABLE "shop"."orders" ADD COLUMN "updated_at" TIMESTAMPTZ',
    ]
    assert sqls.index(added[-1]) < next(i for i, sql in enumerate(sqls) if sql.startswith("COPY"))


def test_a_changed_column_type_fails_the_batch_naming_table_column_and_both_types(
    aws: dict[str, Any],
) -> None:
    fake = aws["redshift_data"]
    fake.results = [("svv_columns", COLUMN_NAMES, [["orders", "note", "integer", None, 32, 0]])]

    with pytest.raises(TerminalError) as failure:
        _warehouse(aws).load(make_manifest(), "merge", _no_files)

    message = str(failure.value)
    assert "table shop.orders column note" in message
    assert "INTEGER" in message and "VARCHAR(40)" in message
    assert "BatchExecuteStatement" not in fake.calls


def test_append_and_replace_modes_insert_every_row_or_replace_the_table(
    aws: dict[str, Any],
) -> None:
    fake = aws["redshift_data"]
    _warehouse(aws).load(make_manifest(), "append", _no_files)
    appended = fake.statements()[-1].batch_sqls
    _warehouse(aws).load(make_manifest(batch_id="b-2"), "replace", _no_files)
    replaced = fake.statements()[-1].batch_sqls

    assert not any(sql.startswith('DELETE FROM "shop"."orders"') for sql in appended)
    assert any(
        sql.startswith('INSERT INTO "shop"."orders"') and "ROW_NUMBER" not in sql
        for sql in appended
    )
    assert any(sql.startswith('DELETE FROM "shop"."orders" WHERE NOT EXISTS') for sql in replaced)


def test_deleted_keys_are_copied_and_deleted_after_the_merge(aws: dict[str, Any]) -> None:
    from handlers.contracts.batch import ManifestFile

    fake = aws["redshift_data"]
    deleted = [ManifestFile(key=f"{FOLDER}/deleted-00000.csv.gz", rows=1, bytes=20)]
    _warehouse(aws).load(make_manifest(deleted_keys_files=deleted), "merge", _no_files)

    sqls = fake.statements()[-1].batch_sqls
    assert (
        f'COPY "_reef_deleted" ("id") FROM \'s3://{BUCKET}/{FOLDER}/redshift-deleted.manifest\''
        in "\n".join(sqls)
    )
    last_delete = [sql for sql in sqls if sql.startswith('DELETE FROM "shop"."orders" USING')][-1]
    assert 'USING "_reef_deleted"' in last_delete
    assert sqls.index(last_delete) > next(
        i for i, s in enumerate(sqls) if s.startswith('INSERT INTO "shop"."orders"')
    )


def test_a_long_load_returns_pending_and_the_next_call_carries_on_without_resending(
    aws: dict[str, Any],
) -> None:
    fake = aws["redshift_data"]
    clock = Clock()
    warehouse = _warehouse(aws, clock)
    fake.running_polls = 12  # about 40 seconds of polling with backoff: more than the budget

    outcomes: list[Loaded | LoadPending] = []
    state = None
    while not outcomes or isinstance(outcomes[-1], LoadPending):
        started = clock.now
        outcomes.append(warehouse.load(make_manifest(), "merge", _no_files, state))
        assert clock.now - started <= 10  # never slept past the budget
        state = outcomes[-1].state if isinstance(outcomes[-1], LoadPending) else None
        assert len(outcomes) < 10

    assert outcomes[-1] == Loaded(rows=3)
    steps = [outcome.state["step"] for outcome in outcomes if isinstance(outcome, LoadPending)]
    assert steps[0] == "inspect" and set(steps) == {"inspect", "load"}
    assert all(o.delay_seconds > 0 for o in outcomes if isinstance(o, LoadPending))
    assert fake.calls.count("BatchExecuteStatement") == 1
    assert fake.calls.count("ExecuteStatement") == 1


def test_pending_state_of_another_batch_is_refused(aws: dict[str, Any]) -> None:
    with pytest.raises(TerminalError, match="inconsistent"):
        _warehouse(aws).load(
            make_manifest(), "merge", _no_files, {"step": "load", "batch_id": "other"}
        )


def _failed_copy(sqls: list[str]) -> list[dict[str, Any]]:
    subs = []
    for n, sql in enumerate(sqls, start=1):
        status = "FINISHED" if n < 5 else ("FAILED" if n == 5 else "ABORTED")
        sub = {"Id": f"x:{n}", "QueryString": sql, "Status": status, "RedshiftQueryId": 4200 + n}
        if status == "FAILED":
            sub["Error"] = (
                "ERROR: Load into table '_reef_staging' failed."
                " Check 'stl_load_errors' system table for details."
            )
        subs.append(sub)
    return subs


def test_a_copy_data_error_fails_the_batch_naming_file_line_column_and_key(
    aws: dict[str, Any],
) -> None:
    fake = aws["redshift_data"]
    fake.fail_batch = _failed_copy
    bad_file = f"s3://{BUCKET}/{FOLDER}/chunk-00001.csv.gz"
    fake.results = [
        (
            "stl_load_errors",
            ["file_name", "line_number", "column_name", "error_code", "error_message"],
            [[bad_file, 2, "note", 1204, "String length exceeds DDL length"]],
        )
    ]
    # line 1 holds a quoted line break, so the record on line 2 is the first one; line 3 is id 8
    chunk = b'7,"two\nlines",2024-05-01 10:00:00+00\n8,far too long a note,2024-05-01 10:00:00+00\n'
    files = {f"{FOLDER}/chunk-00001.csv.gz": chunk}

    with pytest.raises(TerminalError) as failure:
        _warehouse(aws).load(make_manifest(), "merge", lambda key: io.BytesIO(files[key]))

    message = str(failure.value)
    assert f"file {bad_file} line 2 column note" in message
    assert "String length exceeds DDL length" in message
    assert "key id=7" in message
    assert "truncate_values" in message
    errors_query = fake.statements()[-1]
    assert errors_query.query_parameters == [{"name": "query_id", "value": "4205"}]


def test_a_copy_error_on_serverless_is_read_from_sys_load_error_detail(aws: dict[str, Any]) -> None:
    fake = aws["redshift_data"]
    fake.fail_batch = _failed_copy
    fake.results = [
        (
            "sys_load_error_detail",
            ["file_name", "line_number", "column_name", "error_code", "error_message"],
            [
                [
                    f"s3://{BUCKET}/{FOLDER}/chunk-00000.csv.gz",
                    1,
                    "updated_at",
                    1206,
                    "Invalid timestamp format",
                ]
            ],
        )
    ]
    chunk = gzip.decompress(gzip.compress(b"1,a,not a time\n"))

    with pytest.raises(
        TerminalError,
        match=r"chunk-00000.csv.gz line 1 column updated_at: Invalid timestamp format .*key id=1",
    ):
        _warehouse(aws, cluster_identifier=None, workgroup_name="analytics-serverless").load(
            make_manifest(), "merge", lambda key: io.BytesIO(chunk)
        )


def test_throttling_is_transient_and_access_denied_is_terminal() -> None:
    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "ExecuteStatement")

    assert isinstance(translate_client_error(error("ThrottlingException"), "x"), TransientError)
    assert isinstance(
        translate_client_error(error("ActiveStatementsExceededException"), "x"), TransientError
    )
    denied = translate_client_error(error("AccessDeniedException"), "x")
    assert isinstance(denied, TerminalError) and "redshift-data" in str(denied)
    assert isinstance(translate_client_error(error("ValidationException"), "x"), TerminalError)


def test_a_serializable_isolation_failure_is_transient_and_a_missing_permission_terminal() -> None:
    conflict = {
        "Status": "FAILED",
        "Error": "ERROR: 1023 DETAIL: Serializable isolation violation on table",
    }
    denied = {"Status": "FAILED", "Error": "ERROR: permission denied for schema shop"}
    assert isinstance(translate_failure(conflict, "load"), TransientError)
    assert isinstance(translate_failure(denied, "load"), TerminalError)
    assert isinstance(translate_failure({"Status": "ABORTED"}, "load"), TransientError)


def test_a_workgroup_destination_names_the_workgroup_and_never_a_cluster() -> None:
    seen: dict[str, Any] = {}

    class Recorder:
        def execute_statement(self, **request: Any) -> dict[str, Any]:
            seen.update(request)
            return {"Id": "00000000-0000-0000-0000-000000000000"}

    destination = make_destination(cluster_identifier=None, workgroup_name="analytics-serverless")
    DataApi(Recorder(), destination, SECRET).execute("SELECT 1", {"a": "b"})

    assert seen == {
        "WorkgroupName": "analytics-serverless", "Database": "analytics", "SecretArn": SECRET,
        "Sql": "SELECT 1", "Parameters": [{"name": "a", "value": "b"}],
    }  # fmt: skip


@pytest.mark.parametrize("mode", ["merge", "append", "replace"])
def test_a_manifest_dedup_key_drops_repeated_events_in_the_insert_whatever_the_mode(
    aws: dict[str, Any], mode: str
) -> None:
    fake = aws["redshift_data"]

    _warehouse(aws).load(make_manifest(dedup_key=["note"]), mode, _no_files)  # type: ignore[arg-type]

    [insert] = [
        sql
        for sql in fake.statements()[-1].batch_sqls
        if sql.startswith('INSERT INTO "shop"."orders"')
    ]
    assert (
        'FROM (SELECT "id", "note", "updated_at" FROM (SELECT "id", "note", "updated_at",'
        ' ROW_NUMBER() OVER (PARTITION BY "note") AS "_reef_event" FROM "_reef_staging")'
        ' AS "_reef_events" WHERE "_reef_event" = 1) AS "_reef_staging"'
    ) in insert
