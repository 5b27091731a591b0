"""Amazon Redshift as a Reef warehouse, through the Redshift Data API.

`open_warehouse` is what the warehouse registry (handlers.warehouses) calls; `explain_load`
shows the statements of a load for `python main.py explain`; `plan_file_count` tells the
extract side how many files to split a batch into.
"""

import os
from collections.abc import Sequence
from typing import Any

from handlers.contracts import runtime
from handlers.contracts.batch import Column
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import RedshiftDestination
from handlers.errors import TerminalError
from handlers.warehouses.base import WriteMode
from handlers.warehouses.redshift import statements
from handlers.warehouses.redshift.files import plan_file_count
from handlers.warehouses.redshift.loader import RedshiftWarehouse
from handlers.warehouses.redshift.types import redshift_type

__all__ = ["RedshiftWarehouse", "explain_load", "open_warehouse", "plan_file_count"]


def open_warehouse(config: RuntimeConfig, secret: dict[str, Any] | None) -> RedshiftWarehouse:
    """The connector's Redshift; the Data API reads the secret itself, so `secret` is unused."""
    import boto3  # deferred: only functions that load into Redshift need the clients

    destination = config.connector.destination
    if not isinstance(destination, RedshiftDestination):
        raise TerminalError(f"connector {config.connector.name} does not load into Redshift")
    missing = [
        name
        for name in (runtime.DESTINATION_SECRET_ID, runtime.REDSHIFT_COPY_ROLE_ARN)
        if not os.environ.get(name)
    ]
    if missing:
        raise TerminalError(
            f"environment variable {', '.join(missing)} is not set; redeploy the connector's stack"
        )
    return RedshiftWarehouse(
        destination,
        secret_id=os.environ[runtime.DESTINATION_SECRET_ID],
        copy_role_arn=os.environ[runtime.REDSHIFT_COPY_ROLE_ARN],
        data_api_client=boto3.client("redshift-data"),
        s3_client=boto3.client("s3"),
        # wait for Redshift at most half the function's time in one call; the load handler
        # can narrow this with the invocation's remaining time (remaining_seconds)
        poll_budget_seconds=max(5.0, config.function_timeout_seconds / 2),
    )


def explain_load(
    destination_spec: RedshiftDestination,
    unit: str,
    columns: list[Column],
    primary_key: list[str],
    *,
    cursor: str | None = None,
    mode: WriteMode | None = None,
    dedup_key: Sequence[str] = (),
) -> list[str]:
    """The statements a first load of `unit` sends, with placeholders for batch and bucket."""
    schema = destination_spec.schema_
    batch = statements.BatchIdentity(
        connector="<connector>", unit=unit, timelabel="<timelabel>", batch_id="<batch-id>"
    )
    plan = statements.LoadPlan(
        schema=schema,
        table=unit,
        mode=mode or destination_spec.mode,
        batch=batch,
        columns=[(column.name, redshift_type(column)) for column in columns],
        primary_key=list(primary_key),
        cursor=cursor,
        rows=0,
        loaded_at="<loaded-at>",
        role_arn="<copy-role-arn>",
        truncate=destination_spec.truncate_values,
        create=True,
        manifest_url="s3://<staging-bucket>/<batch-folder>/redshift.manifest",
        dedup_key=list(dedup_key),
    )
    return [
        statements.inspect_columns(),
        statements.find_batch(schema),
        *statements.load_transaction(plan),
    ]
