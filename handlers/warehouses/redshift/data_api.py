"""The Redshift Data API as the loader uses it, with its errors translated in this one place.

The Data API runs SQL over HTTPS with a Secrets Manager secret, so the load function needs no
VPC, driver or connection pool. Statements run asynchronously: a call returns a statement id
at once and DescribeStatement reports progress, so a long COPY is polled, never waited on.
https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html
"""

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.contracts.spec import RedshiftDestination
from handlers.errors import TerminalError, TransientError

logger = logging.getLogger(__name__)

FINISHED = "FINISHED"
FAILED = "FAILED"
ABORTED = "ABORTED"

# API errors that pass on their own; anything else (validation, missing cluster, access
# denied) needs a fix first.
# https://docs.aws.amazon.com/redshift-data/latest/APIReference/CommonErrors.html
_TRANSIENT_CODES = {
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "BatchExecuteStatementException",
    "ExecuteStatementException",
    "DatabaseConnectionException",
    "InternalServerException",
    "ThrottlingException",
    "ServiceUnavailableException",
    "RequestTimeout",
}

# Words of a failed statement's error that mean "try again": serializable isolation
# (error 1023), lock and connection trouble, a cluster pausing or resizing.
# https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation.html
_TRANSIENT_FAILURES = (
    "serializable isolation violation",
    "1023",
    "deadlock",
    "lock timeout",
    "could not obtain lock",
    "connection",
    "terminating",
    "cluster is paused",
    "resize",
    "temporarily unavailable",
    "out of memory",
)


class DataApi:
    """One connector's Redshift (cluster or workgroup, database, secret) over the Data API."""

    def __init__(self, client: Any, destination: RedshiftDestination, secret_id: str):
        self.client = client
        self.destination = destination
        self.secret_id = secret_id

    @property
    def provisioned(self) -> bool:
        return self.destination.cluster_identifier is not None

    def _target(self) -> dict[str, str]:
        target = {"Database": self.destination.database, "SecretArn": self.secret_id}
        if self.destination.cluster_identifier is not None:
            target["ClusterIdentifier"] = self.destination.cluster_identifier
        else:
            assert self.destination.workgroup_name is not None
            target["WorkgroupName"] = self.destination.workgroup_name
        return target

    def execute(self, sql: str, parameters: dict[str, str] | None = None) -> str:
        """Start one statement; returns its id."""
        request: dict[str, Any] = {**self._target(), "Sql": sql}
        if parameters:
            request["Parameters"] = [
                {"name": name, "value": value} for name, value in parameters.items()
            ]
        answer = self._call("ExecuteStatement", self.client.execute_statement, request)
        return str(answer["Id"])

    def execute_batch(self, sqls: list[str], name: str) -> str:
        """Start statements that run in order as one transaction; returns the batch's id."""
        request = {**self._target(), "Sqls": sqls, "StatementName": name[:500]}
        answer = self._call("BatchExecuteStatement", self.client.batch_execute_statement, request)
        return str(answer["Id"])

    def describe(self, statement_id: str) -> dict[str, Any]:
        """DescribeStatement's answer: Status, Error, SubStatements, RedshiftQueryId."""
        answer = self._call(
            "DescribeStatement", self.client.describe_statement, {"Id": statement_id}
        )
        return dict(answer)

    def records(self, statement_id: str) -> list[dict[str, Any]]:
        """The rows of a finished statement, as dicts by column name, every page of them."""
        rows: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Id": statement_id}
        while True:
            page = self._call("GetStatementResult", self.client.get_statement_result, request)
            names = [column["name"] for column in page.get("ColumnMetadata", [])]
            for record in page.get("Records", []):
                rows.append(dict(zip(names, (_value(field) for field in record), strict=False)))
            if not page.get("NextToken"):
                return rows
            request = {"Id": statement_id, "NextToken": page["NextToken"]}

    def _call(self, operation: str, method: Any, request: dict[str, Any]) -> dict[str, Any]:
        logger.debug("redshift-data %s", operation)
        try:
            return dict(method(**request))
        except ClientError as error:
            raise translate_client_error(error, operation) from error
        except BotoCoreError as error:
            raise TransientError(f"Redshift Data API {operation}: {error}") from error


def _value(field: dict[str, Any]) -> Any:
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if kind in field:
            return field[kind]
    return None


def translate_client_error(error: ClientError, operation: str) -> TransientError | TerminalError:
    """A Data API call's error as Reef's: retry what passes, stop on what needs a fix."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    message = f"Redshift Data API {operation} failed: {code}: {details.get('Message', '')}"
    if code in _TRANSIENT_CODES:
        return TransientError(message)
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        message += (
            "; check that the load function's role may use redshift-data on the cluster or"
            " workgroup and read the destination secret"
        )
    return TerminalError(message)


def translate_failure(description: dict[str, Any], doing: str) -> TransientError | TerminalError:
    """A statement that ended FAILED or ABORTED, as Reef's error."""
    status = description.get("Status")
    error = str(description.get("Error") or "no error message")
    for sub in description.get("SubStatements") or []:
        if sub.get("Status") == FAILED and sub.get("Error"):
            error = str(sub["Error"])
            break
    if status == ABORTED:
        return TransientError(f"{doing}: the statement was cancelled ({error}); retrying")
    lowered = error.lower()
    if any(word in lowered for word in _TRANSIENT_FAILURES):
        return TransientError(f"{doing}: {error}")
    return TerminalError(f"{doing}: {error}")


def failed_copy_query_id(description: dict[str, Any]) -> int | None:
    """The query id of the COPY that failed a batch statement, when a COPY did."""
    for sub in description.get("SubStatements") or []:
        query = str(sub.get("QueryString", "")).lstrip().upper()
        if sub.get("Status") == FAILED and query.startswith("COPY"):
            query_id = sub.get("RedshiftQueryId")
            return int(query_id) if query_id is not None else None
    return None
