"""One connector's AWS resources in moto, wired as its stacks wire them, plus the fakes.

`Flow` creates the staging bucket, the book-keeping table, the topics, the work queues with
their dead-letter queues and raw-delivery subscriptions, writes the runtime config document,
sets the functions' environment variables and registers the fake source and warehouse.
Use it inside `mock_aws()`.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from handlers import config
from handlers.contracts import runtime
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import ConnectorSpec
from handlers.orchestration import services
from handlers.sources import register_source
from handlers.warehouses import register_warehouse
from tests.fakes import source as fake_source
from tests.fakes import warehouse as fake_warehouse

CONNECTOR = "shop"
UNIT = "orders"
FUNCTION_TIMEOUT_SECONDS = 30
MAX_RECEIVE_COUNT = 5


def connector_spec(mode: str = "append", allow_overlap: bool = False) -> ConnectorSpec:
    """A one-table PostgreSQL-to-PostgreSQL spec; the fakes stand in for both ends."""
    return ConnectorSpec.model_validate(
        {
            "name": CONNECTOR,
            "source": {
                "type": "postgres",
                "secret": "reef/source",
                "tables": [{"table": UNIT, "primary_key": ["id"], "cursor": "updated"}],
            },
            "destination": {
                "type": "postgres",
                "secret": "reef/warehouse",
                "schema": "analytics",
                "mode": mode,
            },
            "schedule": "rate(15 minutes)",
            "allow_overlap": allow_overlap,
        }
    )


@dataclass
class Flow:
    """The deployed resources of one connector, and the fakes behind its source and warehouse."""

    environment: dict[str, str]
    dead_letter_queues: dict[str, str]
    queue_arns: dict[str, str]
    observed: dict[str, str]
    source: fake_source.SourceStore = field(default_factory=fake_source.SourceStore)
    warehouse: fake_warehouse.WarehouseStore = field(default_factory=fake_warehouse.WarehouseStore)

    _sqs: Any = None

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    def queue(self, variable: str) -> str:
        return self.environment[variable]

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message now visible in a queue, left in place (visibility 0)."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in {f["MessageId"] for f in found}]
            if not fresh:
                return found
            found.extend(fresh)

    def observed_messages(self, topic: str) -> list[dict[str, Any]]:
        """The bodies published on the loaded or failed topic so far."""
        return [json.loads(m["Body"]) for m in self.messages(self.observed[topic])]


def deploy_flow(monkeypatch: Any, mode: str = "append", allow_overlap: bool = False) -> Flow:
    """Create the connector's resources in moto and point the handlers at them."""
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    sns = boto3.client("sns")
    bucket = "reef-test-staging"
    s3.create_bucket(Bucket=bucket)
    table = _create_table()

    config = RuntimeConfig(
        environment="test",
        connector=connector_spec(mode, allow_overlap),
        schedule="rate(15 minutes)",
        function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
        staging_expiry_days=7,
        bookkeeping_ttl_days=90,
        redshift_slices=2,
    )
    key = runtime.config_key(CONNECTOR)
    s3.put_object(Bucket=bucket, Key=key, Body=config.model_dump_json(by_alias=True).encode())

    topics = {
        name: sns.create_topic(Name=f"{CONNECTOR}-{name}")["TopicArn"]
        for name in ("scheduled", "extracted", "loaded", "failed")
    }
    queues: dict[str, str] = {}
    arns: dict[str, str] = {}
    dead_letters: dict[str, str] = {}
    for name in ("extract", "load"):
        dlq = sqs.create_queue(QueueName=f"{CONNECTOR}-{name}-dlq")["QueueUrl"]
        dlq_arn = _arn(sqs, dlq)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        queues[name] = sqs.create_queue(
            QueueName=f"{CONNECTOR}-{name}",
            Attributes={
                "VisibilityTimeout": str(6 * FUNCTION_TIMEOUT_SECONDS),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        arns[name] = _arn(sqs, queues[name])
        dead_letters[name] = dlq
    observed = {
        name: sqs.create_queue(QueueName=f"{CONNECTOR}-observe-{name}")["QueueUrl"]
        for name in ("loaded", "failed")
    }
    _subscribe(sns, sqs, topics["scheduled"], queues["extract"])
    _subscribe(sns, sqs, topics["extracted"], queues["load"])
    for name, queue_url in observed.items():
        _subscribe(sns, sqs, topics[name], queue_url)

    environment = {
        runtime.ENVIRONMENT: "test",
        runtime.CONNECTOR: CONNECTOR,
        runtime.CONFIG_BUCKET: bucket,
        runtime.CONFIG_KEY: key,
        runtime.BOOKKEEPING_TABLE: table,
        runtime.STAGING_BUCKET: bucket,
        runtime.EXTRACT_QUEUE_URL: queues["extract"],
        runtime.LOAD_QUEUE_URL: queues["load"],
        runtime.SCHEDULED_TOPIC_ARN: topics["scheduled"],
        runtime.EXTRACTED_TOPIC_ARN: topics["extracted"],
        runtime.LOADED_TOPIC_ARN: topics["loaded"],
        runtime.FAILED_TOPIC_ARN: topics["failed"],
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(runtime.DEAD_LETTER_QUEUE_URL, raising=False)

    flow = Flow(environment, dead_letters, arns, observed)
    register_source("postgres", fake_source.factory(flow.source))
    register_warehouse("postgres", fake_warehouse.factory(flow.warehouse))
    services.reset()
    return flow


def undeploy_flow() -> None:
    """Forget the registered fakes and cached services."""
    register_source("postgres", None)
    register_warehouse("postgres", None)
    services.reset()


def _create_table() -> str:
    name = "reef-test-bookkeeping"
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": runtime.BOOKKEEPING_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": runtime.BOOKKEEPING_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": runtime.BOOKKEEPING_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": runtime.BOOKKEEPING_SORT_KEY, "AttributeType": "S"},
            {"AttributeName": "batch_id", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": runtime.BOOKKEEPING_BATCH_INDEX,
                "KeySchema": [{"AttributeName": "batch_id", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _subscribe(sns: Any, sqs: Any, topic: str, queue_url: str) -> None:
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=_arn(sqs, queue_url),
        Attributes={"RawMessageDelivery": "true"},
    )


def use_real_connector(
    flow: Flow,
    monkeypatch: Any,
    spec: ConnectorSpec,
    secrets: dict[str, dict[str, Any]],
    schedule: str = "rate(15 minutes)",
) -> None:
    """Run the deployed flow with `spec` and the real source and warehouse packages.

    The runtime config document is replaced by one for `spec`, the secrets are stored in
    Secrets Manager under their names, and the fakes `deploy_flow` registered are dropped.
    """
    document = RuntimeConfig(
        environment="test",
        connector=spec,
        schedule=schedule,
        function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
        staging_expiry_days=7,
        bookkeeping_ttl_days=90,
        redshift_slices=2,
    )
    boto3.client("s3").put_object(
        Bucket=flow.environment[runtime.CONFIG_BUCKET],
        Key=flow.environment[runtime.CONFIG_KEY],
        Body=document.model_dump_json(by_alias=True).encode(),
    )
    client = boto3.client("secretsmanager")
    for name, value in secrets.items():
        client.create_secret(Name=name, SecretString=json.dumps(value))
    source_secret = getattr(spec.source, "secret", None)
    if source_secret:
        monkeypatch.setenv(runtime.SOURCE_SECRET_ID, source_secret)
    monkeypatch.setenv(runtime.DESTINATION_SECRET_ID, spec.destination.secret)
    register_source("postgres", None)
    register_warehouse("postgres", None)
    services.reset()
    config.reset()
