"""What the handlers share within one execution environment: config, ledger, clients, keys.

Built once per cold start from the function's environment and its runtime config document;
sources and warehouses are opened per invocation and closed after it, so that no database
connection outlives the invocation that needed it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers import config
from handlers.bookkeeping import Ledger, open_ledger
from handlers.contracts import runtime
from handlers.contracts.batch import Manifest
from handlers.contracts.messages import Message, TraceContext, encode
from handlers.contracts.runtime import RuntimeConfig
from handlers.sources import open_source
from handlers.sources.base import Source
from handlers.warehouses import open_warehouse
from handlers.warehouses.base import Warehouse


@dataclass(frozen=True)
class Services:
    """The connector's config and the AWS clients and ledger its handlers use."""

    config: RuntimeConfig
    ledger: Ledger
    s3: Any
    sqs: Any
    sns: Any
    staging_bucket: str

    @property
    def connector(self) -> str:
        return self.config.connector.name

    def publish(self, topic_variable: str, message: Message) -> None:
        """Publish a message on the topic named by an environment variable."""
        topic = config.environment_variable(topic_variable)
        try:
            self.sns.publish(TopicArn=topic, Message=encode(message))
        except (ClientError, BotoCoreError) as error:
            raise config.aws_error(error, f"publishing on {topic}") from error

    def send(self, queue_variable: str, message: Message, delay_seconds: int = 0) -> None:
        """Send a message to the queue named by an environment variable, maybe delayed."""
        queue = config.environment_variable(queue_variable)
        try:
            self.sqs.send_message(
                QueueUrl=queue, MessageBody=encode(message), DelaySeconds=delay_seconds
            )
        except (ClientError, BotoCoreError) as error:
            raise config.aws_error(error, f"sending to {queue}") from error

    def write_manifest(self, trace: TraceContext, manifest: Manifest) -> str:
        """Write a batch's manifest at its deterministic key; returns the key."""
        key = manifest_key(trace)
        try:
            self.s3.put_object(
                Bucket=self.staging_bucket,
                Key=key,
                Body=manifest.model_dump_json(indent=2).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as error:
            where = f"s3://{self.staging_bucket}/{key}"
            raise config.aws_error(error, f"writing the manifest {where}") from error
        return key

    @contextmanager
    def source(self) -> Iterator[Source]:
        """The connector's source, open for one invocation."""
        opened = open_source(self.config, config.secret_from_environment(runtime.SOURCE_SECRET_ID))
        try:
            yield opened
        finally:
            opened.close()

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        """The connector's warehouse, open for one invocation."""
        secret = config.secret_from_environment(runtime.DESTINATION_SECRET_ID)
        opened = open_warehouse(self.config, secret)
        try:
            yield opened
        finally:
            opened.close()


@cache
def services() -> Services:
    """The services of this execution environment, built on first use."""
    runtime_config = config.runtime_config()
    return Services(
        config=runtime_config,
        ledger=open_ledger(ttl_days=runtime_config.bookkeeping_ttl_days),
        s3=config.client("s3"),
        sqs=config.client("sqs"),
        sns=config.client("sns"),
        staging_bucket=config.environment_variable(runtime.STAGING_BUCKET),
    )


def reset() -> None:
    """Start over as after a cold start; for tests."""
    services.cache_clear()
    config.reset()


def now() -> datetime:
    """The current time in UTC; one place, so that every step reads the same clock."""
    return datetime.now(UTC)


def batch_prefix(trace: TraceContext) -> str:
    """The staging prefix of a batch's files; IAM grants a function batches/<connector>/*."""
    compact = trace.timelabel.replace("-", "").replace(":", "")
    return f"{runtime.STAGING_PREFIX}/{trace.connector}/{trace.unit}/{compact}/{trace.batch_id}"


def chunk_key(trace: TraceContext, chunk: int) -> str:
    """The deterministic key of a chunk file: a retried chunk overwrites itself."""
    return f"{batch_prefix(trace)}/{chunk:06d}.csv.gz"


def deleted_keys_key(trace: TraceContext, chunk: int) -> str:
    """The key of the file of primary keys a chunk found deleted at the source."""
    return f"{batch_prefix(trace)}/{chunk:06d}.deleted.csv.gz"


def manifest_key(trace: TraceContext) -> str:
    """The deterministic key of a batch's manifest."""
    return f"{batch_prefix(trace)}/manifest.json"
