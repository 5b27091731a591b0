"""Loading a batch into Redshift: the Warehouse the load handler calls.

One load is up to three Data API statements, each awaited without outliving the invocation:

1. inspect: the target's columns and whether the load log exists (SVV_COLUMNS);
2. check: the batch's row in the load log; when it is there the batch is acknowledged and
   nothing else is sent;
3. load: one BatchExecuteStatement, which Redshift runs as a single transaction: schema and
   table creation or new columns, COPY into a staging table, the merge (or append, or
   replace), the deleted keys, and the load log row.

When a statement is still running as the time budget runs out, `load` returns LoadPending
with the statement id in its state; the load handler sends itself a delayed message and the
next call carries on from that state, so no Lambda sleeps through a long COPY.
"""

import csv
import io
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.contracts.batch import Manifest, ManifestFile
from handlers.contracts.spec import RedshiftDestination
from handlers.errors import TerminalError, TransientError
from handlers.warehouses.base import Loaded, LoadPending, WriteMode
from handlers.warehouses.redshift import statements
from handlers.warehouses.redshift.data_api import (
    ABORTED,
    FAILED,
    FINISHED,
    DataApi,
    failed_copy_query_id,
    translate_failure,
)
from handlers.warehouses.redshift.files import (
    DATA_MANIFEST,
    DELETED_MANIFEST,
    manifest_key,
    redshift_manifest,
)
from handlers.warehouses.redshift.types import RedshiftType, catalog_type, redshift_type

logger = logging.getLogger(__name__)

# Polling DescribeStatement: start fast (most statements take well under a second), back off.
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 5.0
# How long a load waits for Redshift in one call when the caller gives no deadline.
DEFAULT_POLL_BUDGET_SECONDS = 30.0
# Delay of the message that resumes a pending load; SQS allows up to 900 seconds.
PENDING_DELAY_SECONDS = 30
# Time kept back from the caller's remaining time for returning and sending the message.
SAFETY_SECONDS = 5.0

INSPECT, CHECK, LOAD, COPY_ERRORS = "inspect", "check", "load", "copy_errors"
# stl_load_errors' code for a value longer than its column.
# https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html
VALUE_TOO_LONG = 1204


class RedshiftWarehouse:
    """One connector's Redshift destination, reached through the Redshift Data API."""

    def __init__(
        self,
        destination: RedshiftDestination,
        secret_id: str,
        copy_role_arn: str,
        data_api_client: Any,
        s3_client: Any,
        *,
        remaining_seconds: Callable[[], float] | None = None,
        poll_budget_seconds: float = DEFAULT_POLL_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.destination = destination
        self.api = DataApi(data_api_client, destination, secret_id)
        self.copy_role_arn = copy_role_arn
        self.s3 = s3_client
        # the load handler may set this to the Lambda context's remaining time
        self.remaining_seconds = remaining_seconds
        self.poll_budget_seconds = poll_budget_seconds
        self._sleep = sleep
        self._clock = clock
        self._now = now

    def load(
        self,
        manifest: Manifest,
        mode: WriteMode,
        open_file: Callable[[str], IO[bytes]],
        state: dict[str, Any] | None = None,
    ) -> Loaded | LoadPending:
        """Load the manifest's files exactly once, in one transaction with the load log row."""
        state = dict(state or {"step": INSPECT})
        if state.setdefault("batch_id", manifest.batch_id) != manifest.batch_id:
            raise TerminalError(
                f"load state of batch {state['batch_id']} handed to batch {manifest.batch_id};"
                " the load message is inconsistent, replay the batch"
            )
        if mode == "merge" and not manifest.primary_key:
            raise TerminalError(
                f"unit {manifest.unit}: mode merge needs a primary key and the manifest has"
                " none; name the key columns in the spec or use mode: append"
            )
        deadline = self._deadline()

        if state["step"] == INSPECT:
            outcome = self._step(state, deadline, lambda: self._start_inspect(manifest))
            if isinstance(outcome, LoadPending):
                return outcome
            self._finish_inspect(manifest, state, outcome)

        if state["step"] == CHECK:
            outcome = self._step(state, deadline, lambda: self._start_check(manifest))
            if isinstance(outcome, LoadPending):
                return outcome
            found = self.api.records(outcome["Id"])
            if found:
                logger.info("batch %s is in the load log already", manifest.batch_id)
                return Loaded(rows=int(found[0]["row_count"]), already=True)
            state.update(step=LOAD)

        if state["step"] == LOAD:
            outcome = self._step(state, deadline, lambda: self._start_load(manifest, mode, state))
            if isinstance(outcome, LoadPending):
                return outcome
            if outcome["Status"] == FINISHED:
                logger.info("batch %s loaded: %d rows", manifest.batch_id, manifest.rows)
                return Loaded(rows=manifest.rows)
            state.update(step=COPY_ERRORS, copy_query_id=outcome["copy_query_id"])

        outcome = self._step(state, deadline, lambda: self._start_copy_errors(state))
        if isinstance(outcome, LoadPending):
            return outcome
        raise self._copy_error(manifest, open_file, self.api.records(outcome["Id"]))

    def close(self) -> None:
        """Nothing to close: the Data API holds no connection."""

    def _deadline(self) -> float:
        budget = self.poll_budget_seconds
        if self.remaining_seconds is not None:
            budget = min(budget, self.remaining_seconds() - SAFETY_SECONDS)
        return self._clock() + max(budget, 0.0)

    def _step(
        self, state: dict[str, Any], deadline: float, start: Callable[[], str]
    ) -> dict[str, Any] | LoadPending:
        """Start the step's statement unless the state has one, and await it until the deadline."""
        if not state.get("statement_id"):
            state["statement_id"] = start()
        description = self._await(state["statement_id"], deadline)
        if description is None:
            logger.info("statement %s still running; resuming later", state["statement_id"])
            return LoadPending(delay_seconds=PENDING_DELAY_SECONDS, state=dict(state))
        state["statement_id"] = None
        if description["Status"] in (FAILED, ABORTED):
            query_id = failed_copy_query_id(description) if state["step"] == LOAD else None
            if query_id is None or description["Status"] == ABORTED:
                raise translate_failure(description, self._doing(state["step"]))
            return {"Status": FAILED, "copy_query_id": query_id}
        return description

    def _await(self, statement_id: str, deadline: float) -> dict[str, Any] | None:
        interval = FIRST_POLL_SECONDS
        while True:
            description = self.api.describe(statement_id)
            if description.get("Status") in (FINISHED, FAILED, ABORTED):
                return description
            if self._clock() + interval > deadline:
                return None
            self._sleep(interval)
            interval = min(interval * 2, MAX_POLL_SECONDS)

    def _doing(self, step: str) -> str:
        where = self.destination.cluster_identifier or self.destination.workgroup_name
        return f"Redshift {where} database {self.destination.database}, {step} step"

    def _start_inspect(self, manifest: Manifest) -> str:
        return self.api.execute(
            statements.inspect_columns(),
            {
                "schema": self.destination.schema_,
                "table": manifest.unit,
                "log": statements.LOAD_LOG,
            },
        )

    def _finish_inspect(
        self, manifest: Manifest, state: dict[str, Any], description: dict[str, Any]
    ) -> None:
        existing: dict[str, list[Any]] = {}
        log_exists = False
        for row in self.api.records(description["Id"]):
            if str(row["table_name"]).lower() == statements.LOAD_LOG:
                log_exists = True
                continue
            type_ = catalog_type(
                str(row["data_type"]),
                row.get("character_maximum_length"),
                row.get("numeric_precision"),
                row.get("numeric_scale"),
            )
            existing[str(row["column_name"]).lower()] = [type_.base, list(type_.size)]
        state.update(step=CHECK if log_exists else LOAD, existing=existing)

    def _start_check(self, manifest: Manifest) -> str:
        return self.api.execute(
            statements.find_batch(self.destination.schema_),
            {"connector": manifest.connector, "unit": manifest.unit, "batch_id": manifest.batch_id},
        )

    def _start_load(self, manifest: Manifest, mode: WriteMode, state: dict[str, Any]) -> str:
        plan = self._plan(manifest, mode, state.get("existing") or {})
        try:
            sqls = statements.load_transaction(plan)
        except ValueError as unfit:
            raise TerminalError(f"batch {manifest.batch_id}: {unfit}") from unfit
        return self.api.execute_batch(sqls, f"reef {manifest.connector} {manifest.batch_id}")

    def _plan(
        self, manifest: Manifest, mode: WriteMode, existing: dict[str, list[Any]]
    ) -> statements.LoadPlan:
        schema, table = self.destination.schema_, manifest.unit
        columns = [(column.name, redshift_type(column)) for column in manifest.columns]
        added = self._drift(schema, table, columns, existing)
        return statements.LoadPlan(
            schema=schema,
            table=table,
            mode=mode,
            batch=statements.BatchIdentity.of(manifest),
            columns=columns,
            primary_key=list(manifest.primary_key),
            cursor=manifest.cursor,
            rows=manifest.rows,
            loaded_at=self._now().astimezone(UTC).isoformat(),
            role_arn=self.copy_role_arn,
            truncate=self.destination.truncate_values,
            create=not existing,
            added_columns=added,
            manifest_url=self._write_manifest(manifest, manifest.files, DATA_MANIFEST),
            deleted_manifest_url=self._write_manifest(
                manifest, manifest.deleted_keys_files, DELETED_MANIFEST
            ),
            dedup_key=list(manifest.dedup_key),
        )

    def _drift(
        self,
        schema: str,
        table: str,
        columns: list[tuple[str, RedshiftType]],
        existing: dict[str, list[Any]],
    ) -> list[tuple[str, RedshiftType]]:
        """New columns to add; a column whose type changed fails the batch."""
        if not existing:
            return []
        added = []
        for name, wanted in columns:
            found = existing.get(name.lower())
            if found is None:
                added.append((name, wanted))
                continue
            current = RedshiftType(found[0], tuple(found[1]))
            if not current.holds(wanted):
                raise TerminalError(
                    f"table {schema}.{table} column {name}: the source's type changed, the"
                    f" column is {current} and the batch needs {wanted}; alter the column"
                    " (or recreate the table) in Redshift, then replay the batch"
                )
        return added

    def _write_manifest(
        self, manifest: Manifest, files: list[ManifestFile], name: str
    ) -> str | None:
        if not files:
            return None
        key = manifest_key(files, name)
        try:
            self.s3.put_object(
                Bucket=manifest.bucket,
                Key=key,
                Body=redshift_manifest(manifest.bucket, files),
                ContentType="application/json",
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = f"writing s3://{manifest.bucket}/{key}: {code}"
            if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
                raise TransientError(message) from error
            raise TerminalError(message + "; check the load function's S3 permissions") from error
        except BotoCoreError as error:
            raise TransientError(f"writing s3://{manifest.bucket}/{key}: {error}") from error
        return f"s3://{manifest.bucket}/{key}"

    def _start_copy_errors(self, state: dict[str, Any]) -> str:
        return self.api.execute(
            statements.load_errors(self.api.provisioned),
            {"query_id": str(state["copy_query_id"])},
        )

    def _copy_error(
        self,
        manifest: Manifest,
        open_file: Callable[[str], IO[bytes]],
        errors: list[dict[str, Any]],
    ) -> TerminalError:
        """The COPY's data errors as one terminal error naming file, line, column and key."""
        table = f"{self.destination.schema_}.{manifest.unit}"
        if not errors:
            return TerminalError(
                f"COPY into {table} failed for batch {manifest.batch_id} and Redshift logged no"
                " load error for the query; look it up in sys_load_error_detail"
            )
        details = [self._describe_error(manifest, open_file, error) for error in errors]
        hint = "fix the source data or the column type, then replay the batch"
        if any(error.get("error_code") == VALUE_TOO_LONG for error in errors):
            hint = (
                "a value is longer than its column; widen the column, or set"
                " destination.truncate_values: true to truncate such values, then replay the batch"
            )
        return TerminalError(
            f"COPY into {table} failed for batch {manifest.batch_id}: {'; '.join(details)}; {hint}"
        )

    def _describe_error(
        self, manifest: Manifest, open_file: Callable[[str], IO[bytes]], error: dict[str, Any]
    ) -> str:
        file_url = str(error.get("file_name") or "").strip()
        line = error.get("line_number")
        column = str(error.get("column_name") or "").strip()
        text = (
            f"file {file_url} line {line} column {column or '?'}:"
            f" {str(error.get('error_message') or '').strip()} (code {error.get('error_code')})"
        )
        key = self._key_at(manifest, open_file, file_url, line)
        return f"{text}, key {key}" if key else text

    def _key_at(
        self,
        manifest: Manifest,
        open_file: Callable[[str], IO[bytes]],
        file_url: str,
        line: Any,
    ) -> str | None:
        """The primary key of the record on a line of a batch file; None when unknown."""
        prefix = f"s3://{manifest.bucket}/"
        if not file_url.startswith(prefix) or not isinstance(line, int) or not manifest.primary_key:
            return None
        object_key = file_url[len(prefix) :]
        if any(file.key == object_key for file in manifest.files):
            names = [column.name for column in manifest.columns]
        elif any(file.key == object_key for file in manifest.deleted_keys_files):
            names = list(manifest.primary_key)
        else:
            return None
        record = _record_at(open_file, object_key, line)
        if record is None or len(record) != len(names):
            return None
        values = dict(zip(names, record, strict=True))
        return ", ".join(f"{name}={values[name]}" for name in manifest.primary_key)


def _record_at(open_file: Callable[[str], IO[bytes]], key: str, line: int) -> list[str] | None:
    """The CSV record that spans physical line `line` (1-based) of a batch file."""
    try:
        with open_file(key) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            for record in reader:
                if reader.line_num >= line:
                    return record
    except (OSError, ValueError, csv.Error, ClientError, BotoCoreError, UnicodeDecodeError):
        logger.warning("could not read %s to name the key of a COPY error", key)
    return None
