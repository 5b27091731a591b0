"""What is deployed in the emulator, read back with boto3: functions, mappings, schedules.

The local runtime does only what Lambda's pollers and EventBridge would do with this wiring,
so it reads everything from the emulator and nothing from the specs.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3


@dataclass(frozen=True)
class DeployedFunction:
    """A Lambda function's configuration: how to call it and with what environment."""

    name: str
    arn: str
    handler: str
    role: str
    timeout: int
    memory: int
    environment: dict[str, str]
    layers: tuple[str, ...]


@dataclass(frozen=True)
class QueueMapping:
    """An SQS event source mapping."""

    uuid: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class StreamMapping:
    """A Kinesis event source mapping, with Lambda's error handling settings."""

    uuid: str
    function_name: str
    stream_arn: str
    stream_name: str
    batch_size: int
    batching_window_seconds: int
    starting_position: str
    created: float  # epoch seconds; LATEST means "records after the mapping was created"
    bisect_on_error: bool
    max_retries: int  # -1: until the record expires
    max_record_age_seconds: int  # -1: until the record expires
    on_failure_destination: str | None
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class ScheduleRule:
    """An EventBridge rule with a schedule expression, and the functions it targets."""

    name: str
    arn: str
    expression: str
    enabled: bool
    targets: tuple[tuple[str, str | None], ...]  # (function ARN, constant Input or None)


@dataclass
class Wiring:
    """Everything the local runtime acts on."""

    functions: dict[str, DeployedFunction] = field(default_factory=dict)
    queue_mappings: list[QueueMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    schedules: list[ScheduleRule] = field(default_factory=list)

    def function_by_arn(self, arn: str) -> DeployedFunction | None:
        unqualified = ":".join(arn.split(":")[:7])
        return next((f for f in self.functions.values() if f.arn == unqualified), None)


def read_wiring(session: boto3.Session, endpoint: str | None) -> Wiring:
    """Read functions, event source mappings and schedule rules from the emulator (or AWS)."""
    lambda_client = session.client("lambda", endpoint_url=endpoint)
    functions = {f.name: f for f in _functions(lambda_client)}
    wiring = Wiring(functions=functions)
    sqs = session.client("sqs", endpoint_url=endpoint)
    kinesis = session.client("kinesis", endpoint_url=endpoint)
    for raw in _paginate(lambda_client, "list_event_source_mappings", "EventSourceMappings"):
        function_name = raw["FunctionArn"].split(":")[6]
        source = raw["EventSourceArn"]
        if source.startswith("arn:aws:sqs:"):
            wiring.queue_mappings.append(_queue_mapping(raw, function_name, sqs))
        elif source.startswith("arn:aws:kinesis:"):
            wiring.stream_mappings.append(_stream_mapping(raw, function_name, kinesis))
    wiring.schedules = _schedules(session.client("events", endpoint_url=endpoint))
    return wiring


def _functions(client: Any) -> list[DeployedFunction]:
    found = []
    for raw in _paginate(client, "list_functions", "Functions"):
        found.append(
            DeployedFunction(
                name=raw["FunctionName"],
                arn=raw["FunctionArn"],
                handler=raw.get("Handler", ""),
                role=raw.get("Role", ""),
                timeout=int(raw.get("Timeout", 3)),
                memory=int(raw.get("MemorySize", 128)),
                environment=dict(raw.get("Environment", {}).get("Variables", {})),
                layers=tuple(layer["Arn"] for layer in raw.get("Layers", [])),
            )
        )
    return found


def _queue_mapping(raw: dict[str, Any], function_name: str, sqs: Any) -> QueueMapping:
    queue_arn = raw["EventSourceArn"]
    account, name = queue_arn.split(":")[4], queue_arn.split(":")[5]
    url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    return QueueMapping(
        uuid=raw["UUID"],
        function_name=function_name,
        queue_arn=queue_arn,
        queue_url=url,
        batch_size=int(raw.get("BatchSize") or 10),
        batching_window_seconds=int(raw.get("MaximumBatchingWindowInSeconds") or 0),
        report_batch_item_failures="ReportBatchItemFailures"
        in (raw.get("FunctionResponseTypes") or []),
        enabled=raw.get("State", "Enabled") in ("Enabled", "Creating", "Enabling", "Updating"),
    )


def _stream_mapping(raw: dict[str, Any], function_name: str, kinesis: Any) -> StreamMapping:
    stream_arn = raw["EventSourceArn"]
    destination = raw.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    created = raw.get("LastModified")
    return StreamMapping(
        uuid=raw["UUID"],
        function_name=function_name,
        stream_arn=stream_arn,
        stream_name=stream_arn.split("/", 1)[1],
        batch_size=int(raw.get("BatchSize") or 100),
        batching_window_seconds=int(raw.get("MaximumBatchingWindowInSeconds") or 0),
        starting_position=str(raw.get("StartingPosition") or "LATEST"),
        created=created.timestamp() if isinstance(created, datetime) else 0.0,
        bisect_on_error=bool(raw.get("BisectBatchOnFunctionError", False)),
        max_retries=int(raw.get("MaximumRetryAttempts", -1)),
        max_record_age_seconds=int(raw.get("MaximumRecordAgeInSeconds", -1)),
        on_failure_destination=destination or None,
        report_batch_item_failures="ReportBatchItemFailures"
        in (raw.get("FunctionResponseTypes") or []),
        enabled=raw.get("State", "Enabled") in ("Enabled", "Creating", "Enabling", "Updating"),
    )


def _schedules(events: Any) -> list[ScheduleRule]:
    rules = []
    for raw in _paginate(events, "list_rules", "Rules", marker="NextToken"):
        expression = raw.get("ScheduleExpression")
        if not expression:
            continue
        targets = events.list_targets_by_rule(Rule=raw["Name"])["Targets"]
        rules.append(
            ScheduleRule(
                name=raw["Name"],
                arn=raw["Arn"],
                expression=expression,
                enabled=raw.get("State") == "ENABLED",
                targets=tuple(
                    (t["Arn"], t.get("Input")) for t in targets if ":lambda:" in t["Arn"]
                ),
            )
        )
    return rules


def _paginate(client: Any, operation: str, key: str, marker: str = "Marker") -> list[Any]:
    items: list[Any] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = getattr(client, operation)(**kwargs)
        items += page.get(key, [])
        next_marker = page.get("NextMarker" if marker == "Marker" else "NextToken")
        if not next_marker:
            return items
        kwargs[marker] = next_marker
