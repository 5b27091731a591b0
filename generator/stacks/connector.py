"""The stack of one connector in one environment: its topics, queues, functions and alarms.

Each function gets a role of its own that names only this connector's resources, so that a
connector's stack can be planned, deployed and audited without looking at any other.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from generator.environments import Environment
from generator.provider import configure_stack
from generator.stacks.core import CoreStack
from handlers.contracts import runtime
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import (
    ConnectorSpec,
    KinesisSource,
    PostgresDestination,
    PostgresSource,
    RedshiftDestination,
)
from modules.alarms import (
    dead_letter_alarm,
    freshness_alarm,
    function_errors_alarm,
    iterator_age_alarm,
)
from modules.config_document import config_object
from modules.function import (
    CodeAsset,
    FunctionCode,
    FunctionSettings,
    HandlerFunction,
    Placement,
)
from modules.iam import Condition, Grant
from modules.messaging import WorkQueue, dead_letter_queue, encrypted_topic
from modules.redshift import data_api_grants
from modules.schedule import ScheduleRule
from modules.stream import EventStream, StreamReading, queue_mapping, stream_mapping

# A cron schedule has no fixed period; freshness is then judged against one day.
CRON_FRESHNESS_PERIOD_SECONDS = 86_400
_SQS_CONSUME = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
_BOOKKEEPING_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)


def connector_stack_name(spec: ConnectorSpec, environment: Environment) -> str:
    return f"{spec.name}-{environment.name}"


def schedule_in_force(spec: ConnectorSpec, environment: Environment) -> str:
    """The connector's schedule expression here: the environment's override, or the spec's."""
    override = environment.overrides.get(spec.name)
    return override.schedule if override and override.schedule else spec.schedule


def runtime_config_document(spec: ConnectorSpec, environment: Environment) -> str:
    """The runtime config document as JSON with sorted keys (handlers read it)."""
    config = runtime.RuntimeConfig(
        environment=environment.name,
        connector=spec,
        schedule=schedule_in_force(spec, environment),
        function_timeout_seconds=environment.lambda_settings(spec).timeout,
        staging_expiry_days=environment.staging_expiry_days,
        bookkeeping_ttl_days=environment.bookkeeping_ttl_days,
        redshift_slices=environment.redshift_slices,
    )
    return json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True)


def secret_arn(reference: str, environment: Environment) -> str:
    """The ARN IAM needs for a secret the spec names by name or by ARN."""
    if reference.startswith("arn:"):
        return reference
    # Secrets Manager appends six random characters to a secret's ARN.
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html
    return (
        f"arn:aws:secretsmanager:{environment.region}:{environment.account}"
        f":secret:{reference}-??????"
    )


@dataclass(frozen=True)
class _Topics:
    scheduled: str
    extracted: str
    loaded: str
    failed: str


class ConnectorStack(TerraformStack):
    """SNS topics, SQS work queues with DLQs, functions, mappings, schedule and alarms."""

    def __init__(
        self,
        scope: Construct,
        spec: ConnectorSpec,
        environment: Environment,
        *,
        core: CoreStack,
        code: FunctionCode,
        outdir: Path,
    ) -> None:
        name = connector_stack_name(spec, environment)
        super().__init__(scope, name)
        configure_stack(self, environment, stack_name=name, connector=spec.name, outdir=outdir)
        self.spec = spec
        self.environment = environment
        self.core = core
        self.settings = _function_settings(spec, environment)
        self.code = CodeAsset(self, "code", code=code)
        self.topics = self._topics()
        self.functions: list[HandlerFunction] = []
        self.dead_letter_queues: list[str] = []

        stream = self._stream() if isinstance(spec.source, KinesisSource) else None
        self._scheduler()
        if stream is None:
            self._extract()
        else:
            self._stream_function(stream)
        self._load()
        self._config_document()
        self._alarms()

    # topics and the functions, in the order data flows through them

    def _topics(self) -> _Topics:
        arns = {
            event: encrypted_topic(
                self,
                f"topic-{event}",
                name=f"{self.spec.name}-{event}",
                key_arn=self.core.key.arn,
            ).arn
            for event in ("scheduled", "extracted", "loaded", "failed")
        }
        return _Topics(**arns)

    def _scheduler(self) -> HandlerFunction:
        stream_source = isinstance(self.spec.source, KinesisSource)
        # A stream source's scheduler closes timelabels and announces them as extracted;
        # any other source's scheduler fixes batch bounds and announces them as scheduled.
        announces = self.topics.extracted if stream_source else self.topics.scheduled
        variables = {
            runtime.EXTRACTED_TOPIC_ARN
            if stream_source
            else runtime.SCHEDULED_TOPIC_ARN: announces,
        }
        grants = [Grant("PublishBatches", ("sns:Publish",), (announces, self.topics.failed))]
        grants += self._source_secret(variables)
        dead_letters = self._dead_letter_queue("schedule-dlq")
        scheduler = self._function(
            "scheduler",
            runtime.SCHEDULER_HANDLER,
            variables,
            grants,
            dead_letters.arn,
            reaches_database=isinstance(self.spec.source, PostgresSource),
        )
        expression = schedule_in_force(self.spec, self.environment)
        ScheduleRule(
            self,
            "schedule",
            name=f"{self.spec.name}-schedule",
            expression=expression,
            enabled=self.environment.schedule_enabled(self.spec.name),
            function_arn=scheduler.arn,
            function_name=scheduler.function_name,
            dead_letters=dead_letters,
        )
        return scheduler

    def _extract(self) -> None:
        queue = self._work_queue("extract", self.topics.scheduled)
        variables = {
            runtime.EXTRACT_QUEUE_URL: queue.url,
            runtime.EXTRACTED_TOPIC_ARN: self.topics.extracted,
            runtime.DEAD_LETTER_QUEUE_URL: queue.dead_letters.url,
        }
        grants = [
            Grant("ConsumeExtractQueue", _SQS_CONSUME, (queue.arn,)),
            # Continuations and delayed re-checks go back to the same queue; terminal and
            # malformed messages go straight to the dead-letter queue.
            Grant("ContinueExtract", ("sqs:SendMessage",), (queue.arn, queue.dead_letters.arn)),
            Grant(
                "PublishExtracted", ("sns:Publish",), (self.topics.extracted, self.topics.failed)
            ),
            *self._source_secret(variables),
        ]
        function = self._function(
            "extract",
            runtime.EXTRACT_HANDLER,
            variables,
            grants,
            queue.dead_letters.arn,
            reaches_database=isinstance(self.spec.source, PostgresSource),
        )
        queue_mapping(
            self, "extract-mapping", queue_arn=queue.arn, function_name=function.function_name
        )

    def _stream(self) -> EventStream:
        assert isinstance(self.spec.source, KinesisSource)
        settings = self.spec.source.stream
        self.reading = StreamReading(
            on_demand=settings.mode == "on_demand",
            shards=settings.shards,
            retention_hours=settings.retention_hours,
            batch_size=settings.batch_size,
            batching_window_seconds=settings.batching_window_seconds,
            parallelization_factor=settings.parallelization_factor,
            max_retries=settings.max_retries,
            max_record_age_seconds=settings.max_record_age_seconds,
        )
        return EventStream(
            self,
            "kinesis",
            name=f"{self.spec.name}-stream",
            key_arn=self.core.key.arn,
            reading=self.reading,
        )

    def _stream_function(self, stream: EventStream) -> None:
        failures = self._dead_letter_queue("stream-failures")
        quarantine = f"{self.core.staging.arn}/{runtime.QUARANTINE_PREFIX}/{self.spec.name}/*"
        function = self._function(
            "stream",
            runtime.STREAM_HANDLER,
            {},
            [*stream.read_grants(), Grant("QuarantineRecords", ("s3:PutObject",), (quarantine,))],
            failures.arn,
            reaches_database=False,
        )
        stream_mapping(
            self,
            "stream-mapping",
            stream_arn=stream.arn,
            function_name=function.function_name,
            reading=self.reading,
            failure_queue_arn=failures.arn,
        )
        iterator_age_alarm(
            self,
            "stream-iterator-age",
            function_name=function.name,
            stream_name=stream.name,
            threshold_seconds=self.reading.max_record_age_seconds // 2,
            topic_arn=self.core.alarms.arn,
        )

    def _load(self) -> None:
        destination = self.spec.destination
        queue = self._work_queue("load", self.topics.extracted)
        variables = {
            runtime.LOAD_QUEUE_URL: queue.url,
            runtime.LOADED_TOPIC_ARN: self.topics.loaded,
            runtime.DESTINATION_SECRET_ID: destination.secret,
            runtime.DEAD_LETTER_QUEUE_URL: queue.dead_letters.url,
        }
        destination_secret = secret_arn(destination.secret, self.environment)
        grants = [
            Grant("ConsumeLoadQueue", _SQS_CONSUME, (queue.arn,)),
            # Loads that must wait (a unit's earlier batch in flight) re-queue with a delay;
            # terminal and malformed messages go straight to the dead-letter queue.
            Grant("RecheckLoad", ("sqs:SendMessage",), (queue.arn, queue.dead_letters.arn)),
            Grant("PublishLoaded", ("sns:Publish",), (self.topics.loaded, self.topics.failed)),
        ]
        if isinstance(destination, RedshiftDestination):
            assert self.core.redshift_copy_role_arn is not None
            variables[runtime.REDSHIFT_COPY_ROLE_ARN] = self.core.redshift_copy_role_arn
            grants += data_api_grants(
                account=self.environment.account,
                region=self.environment.region,
                cluster_identifier=destination.cluster_identifier,
                workgroup_name=destination.workgroup_name,
                secret_arn=destination_secret,
            )
        else:
            grants.append(
                Grant(
                    "ReadWarehouseSecret", ("secretsmanager:GetSecretValue",), (destination_secret,)
                )
            )
        function = self._function(
            "load",
            runtime.LOAD_HANDLER,
            variables,
            grants,
            queue.dead_letters.arn,
            reaches_database=isinstance(destination, PostgresDestination),
        )
        queue_mapping(
            self, "load-mapping", queue_arn=queue.arn, function_name=function.function_name
        )

    def _config_document(self) -> None:
        # Terraform reads "${" and "%{" in strings as templates; the document is data.
        document = runtime_config_document(self.spec, self.environment)
        config_object(
            self,
            "runtime-config",
            bucket=self.core.staging.name,
            key=runtime.config_key(self.spec.name),
            document=document.replace("${", "$${").replace("%{", "%%{"),
            key_arn=self.core.key.arn,
        )

    def _alarms(self) -> None:
        topic = self.core.alarms.arn
        for queue_name in self.dead_letter_queues:
            dead_letter_alarm(self, f"alarm-{queue_name}", queue_name=queue_name, topic_arn=topic)
        for function in self.functions:
            function_errors_alarm(
                self,
                f"alarm-{function.name}-errors",
                function_name=function.name,
                topic_arn=topic,
            )
        schedule = parse_schedule(schedule_in_force(self.spec, self.environment))
        freshness_alarm(
            self,
            "alarm-freshness",
            connector=self.spec.name,
            namespace=runtime.METRICS_NAMESPACE,
            metric_name=runtime.FRESHNESS_METRIC,
            schedule_period_seconds=schedule.period_seconds or CRON_FRESHNESS_PERIOD_SECONDS,
            schedule_enabled=self.environment.schedule_enabled(self.spec.name),
            topic_arn=topic,
        )

    # building blocks

    def _dead_letter_queue(self, purpose: str) -> SqsQueue:
        name = f"{self.spec.name}-{purpose}"
        self.dead_letter_queues.append(name)
        return dead_letter_queue(self, purpose, name=name, key_arn=self.core.key.arn)

    def _work_queue(self, purpose: str, topic_arn: str) -> WorkQueue:
        queue = WorkQueue(
            self,
            f"{purpose}-queue",
            name=f"{self.spec.name}-{purpose}",
            key_arn=self.core.key.arn,
            consumer_timeout_seconds=self.settings.timeout,
            topic_arn=topic_arn,
        )
        self.dead_letter_queues.append(f"{self.spec.name}-{purpose}-dlq")
        return queue

    def _source_secret(self, variables: dict[str, str]) -> list[Grant]:
        source = self.spec.source
        if isinstance(source, KinesisSource):
            return []
        variables[runtime.SOURCE_SECRET_ID] = source.secret
        return [
            Grant(
                "ReadSourceSecret",
                ("secretsmanager:GetSecretValue",),
                (secret_arn(source.secret, self.environment),),
            )
        ]

    def _function(
        self,
        role: str,
        handler: str,
        variables: dict[str, str],
        grants: list[Grant],
        dead_letter_arn: str,
        *,
        reaches_database: bool,
    ) -> HandlerFunction:
        networking = self.environment.networking
        placement = (
            Placement(tuple(networking.subnet_ids), tuple(networking.security_group_ids))
            if reaches_database and networking.subnet_ids
            else None
        )
        function = HandlerFunction(
            self,
            role,
            name=f"{self.spec.name}-{role}",
            handler=handler,
            code=self.code,
            layer_arn=self.core.layer.arn,
            settings=self.settings,
            key_arn=self.core.key.arn,
            account=self.environment.account,
            region=self.environment.region,
            metrics_namespace=runtime.METRICS_NAMESPACE,
            environment={
                **self._common_variables(),
                **variables,
                runtime.FAILED_TOPIC_ARN: self.topics.failed,
            },
            grants=[*grants, *self._shared_grants()],
            dead_letter_arn=dead_letter_arn,
            placement=placement,
        )
        self.functions.append(function)
        return function

    def _common_variables(self) -> dict[str, str]:
        return {
            runtime.ENVIRONMENT: self.environment.name,
            runtime.CONNECTOR: self.spec.name,
            runtime.CONFIG_BUCKET: self.core.staging.name,
            runtime.CONFIG_KEY: runtime.config_key(self.spec.name),
            runtime.BOOKKEEPING_TABLE: self.core.bookkeeping.name,
            runtime.STAGING_BUCKET: self.core.staging.name,
        }

    def _shared_grants(self) -> list[Grant]:
        """What every function of the connector needs: its own slice of the core resources."""
        bucket = self.core.staging.arn
        table = self.core.bookkeeping.arn
        connector = self.spec.name
        batches = f"{runtime.STAGING_PREFIX}/{connector}"
        return [
            Grant("ReadConfig", ("s3:GetObject",), (f"{bucket}/{runtime.config_key(connector)}",)),
            Grant("StageBatches", ("s3:GetObject", "s3:PutObject"), (f"{bucket}/{batches}/*",)),
            Grant(
                "ListStagedBatches",
                ("s3:ListBucket",),
                (bucket,),
                (Condition("StringLike", "s3:prefix", (f"{batches}/*",)),),
            ),
            # Items are keyed "<connector>#<unit>": the leading-key condition confines the
            # function to its connector's items.
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
            Grant(
                "OwnBookkeeping",
                _BOOKKEEPING_ACTIONS,
                (table,),
                (
                    Condition(
                        "ForAllValues:StringLike", "dynamodb:LeadingKeys", (f"{connector}#*",)
                    ),
                ),
            ),
            # No grant on the batch-id index: only operators' commands (trace) look batches
            # up by id, and the index's key cannot carry the connector condition above.
            Grant(
                "UseEnvironmentKey",
                ("kms:Decrypt", "kms:GenerateDataKey"),
                (self.core.key.arn,),
            ),
        ]


def _function_settings(spec: ConnectorSpec, environment: Environment) -> FunctionSettings:
    settings = environment.lambda_settings(spec)
    return FunctionSettings(
        architecture=settings.architecture,
        memory=settings.memory,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
        log_retention_days=settings.log_retention_days,
    )
