"""A Redshift Data API for the loader's tests: moto's, plus what moto does not do.

moto 5 keeps ExecuteStatement and DescribeStatement (it records each statement's SQL,
parameters, cluster and secret) but has no BatchExecuteStatement, answers every
GetStatementResult with the same fixed rows, and leaves every statement STARTED. The fake
below passes ExecuteStatement and DescribeStatement through to moto, adds
BatchExecuteStatement on moto's own statement store (SubStatements included), and lets a
test script the results, the running time and the failures of statements.
"""

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.redshiftdata.models import redshiftdata_backends

from handlers.contracts.batch import Bounds, Column, Manifest, ManifestFile
from handlers.contracts.spec import RedshiftDestination

REGION = "us-east-1"
BUCKET = "reef-staging"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reef/redshift-AbCdEf"
COPY_ROLE = "arn:aws:iam::123456789012:role/reef-dev-redshift-copy"
FOLDER = "batches/shop-orders/orders/2024-05-01T12:00:00Z/b-1"


class RedshiftDataFake:
    """A boto3 redshift-data client as the loader sees it, backed by moto."""

    def __init__(self, client: Any):
        self.client = client
        self.backend = redshiftdata_backends[DEFAULT_ACCOUNT_ID][REGION]
        self.calls: list[str] = []
        # (a piece of SQL, the column names, the rows) answered by GetStatementResult
        self.results: list[tuple[str, list[str], list[list[Any]]]] = []
        # how many DescribeStatement calls report a statement STARTED before it finishes
        self.running_polls = 0
        # given a batch's SQL list, the SubStatements of a failure (None: it succeeds)
        self.fail_batch: Callable[[list[str]], list[dict[str, Any]] | None] = lambda sqls: None
        self._polls: dict[str, int] = {}
        self._query_ids = itertools.count(1000)

    def statements(self) -> list[Any]:
        """moto's statements, oldest first."""
        return list(self.backend.statements.values())

    def execute_statement(self, **request: Any) -> dict[str, Any]:
        self.calls.append("ExecuteStatement")
        return dict(self.client.execute_statement(**request))

    def batch_execute_statement(self, **request: Any) -> dict[str, Any]:
        self.calls.append("BatchExecuteStatement")
        sqls = list(request["Sqls"])
        statement: Any = self.backend.execute_statement(
            cluster_identifier=request.get("ClusterIdentifier") or request.get("WorkgroupName", ""),
            database=request["Database"],
            db_user=request.get("DbUser", ""),
            parameters=[],
            secret_arn=request["SecretArn"],
            sql=";\n".join(sqls),
        )
        statement.sub_statements = self.fail_batch(sqls) or [
            {"Id": f"{statement.id}:{n}", "QueryString": sql, "Status": "FINISHED",
             "RedshiftQueryId": next(self._query_ids)}
            for n, sql in enumerate(sqls, start=1)
        ]  # fmt: skip
        statement.batch_sqls = sqls
        return {"Id": statement.id}

    def describe_statement(self, Id: str) -> dict[str, Any]:
        self.calls.append("DescribeStatement")
        statement: Any = self.backend.statements[Id]
        polls = self._polls[Id] = self._polls.get(Id, 0) + 1
        if statement.status == "STARTED" and polls > self.running_polls:
            failed = [sub for sub in statement.sub_statements if sub["Status"] == "FAILED"]
            statement.status = "FAILED" if failed else "FINISHED"
            if failed:
                statement.error = failed[0]["Error"]
        answer = dict(self.client.describe_statement(Id=Id))
        if getattr(statement, "error", None):
            answer["Error"] = statement.error
        return answer

    def get_statement_result(self, Id: str, NextToken: str | None = None) -> dict[str, Any]:
        self.calls.append("GetStatementResult")
        self.client.get_statement_result(Id=Id)  # moto checks that the statement exists
        sql = self.backend.statements[Id].query_string
        for piece, names, rows in self.results:
            if piece in sql:
                return {
                    "ColumnMetadata": [{"name": name} for name in names],
                    "Records": [[_field(value) for value in row] for row in rows],
                    "TotalNumberRows": len(rows),
                }
        return {"ColumnMetadata": [], "Records": [], "TotalNumberRows": 0}


def _field(value: Any) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    return {"stringValue": str(value)}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """In-process moto: a staging bucket, an S3 client and the Redshift Data API fake."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        fake = RedshiftDataFake(boto3.client("redshift-data", region_name=REGION))
        yield {"s3": s3, "redshift_data": fake}


def make_destination(**overrides: Any) -> RedshiftDestination:
    fields: dict[str, Any] = {
        "type": "redshift",
        "secret": SECRET,
        "schema": "shop",
        "database": "analytics",
        "cluster_identifier": "analytics",
    }
    fields.update(overrides)
    return RedshiftDestination.model_validate(fields)


def make_manifest(**overrides: Any) -> Manifest:
    fields: dict[str, Any] = {
        "connector": "shop-orders",
        "unit": "orders",
        "timelabel": "2024-05-01T12:00:00Z",
        "batch_id": "b-1",
        "bucket": BUCKET,
        "files": [
            ManifestFile(key=f"{FOLDER}/chunk-00000.csv.gz", rows=2, bytes=100),
            ManifestFile(key=f"{FOLDER}/chunk-00001.csv.gz", rows=1, bytes=80),
        ],
        "columns": [
            Column(name="id", type="bigint", source_type="postgres", nullable=False),
            Column(name="note", type="character varying(10)", source_type="postgres"),
            Column(name="updated_at", type="timestamp with time zone", source_type="postgres"),
        ],
        "primary_key": ["id"],
        "cursor": "updated_at",
        "bounds": Bounds(),
    }
    fields.update(overrides)
    return Manifest(**fields)
