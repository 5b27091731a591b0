"""A flow wired by hand with boto3, the way a connector stack wires it.

Stands in for the deployed stacks while the tests run without Terraform: the same topic,
queue with dead-letter queue, stream and mappings, with the settings the stacks use.
"""

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_RECEIVE_COUNT = 5
FUNCTION_TIMEOUT = 30


@dataclass
class HandWiredFlow:
    """The resources of one hand-wired flow."""

    scheduled_topic_arn: str
    extract_queue_url: str
    extract_dlq_url: str
    extract_function: str
    stream_name: str
    stream_function: str
    stream_failures_url: str
    scheduler_function: str
    schedule_rule_arn: str


def wire_flow(aws: Callable[[str], Any], name: str) -> HandWiredFlow:
    """Create topic -> queue (+DLQ) -> function and stream -> function, all named after `name`."""
    sqs, sns, lam, kinesis = aws("sqs"), aws("sns"), aws("lambda"), aws("kinesis")
    role = _role(aws("iam"), name)

    dlq_url, dlq_arn = _queue(sqs, f"{name}-extract-dlq", {})
    queue_url, queue_arn = _queue(
        sqs,
        f"{name}-extract",
        {
            "VisibilityTimeout": str(6 * FUNCTION_TIMEOUT),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
        },
    )
    topic_arn = sns.create_topic(Name=f"{name}-scheduled")["TopicArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )

    extract = _function(lam, f"{name}-extract", role, "handlers.orchestration.extract.handler")
    lam.create_event_source_mapping(
        FunctionName=extract,
        EventSourceArn=queue_arn,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )

    kinesis.create_stream(StreamName=f"{name}-events", ShardCount=1)
    stream_arn = kinesis.describe_stream(StreamName=f"{name}-events")["StreamDescription"][
        "StreamARN"
    ]
    failures_url, failures_arn = _queue(sqs, f"{name}-stream-failures", {})
    stream = _function(lam, f"{name}-stream", role, "handlers.orchestration.stream.handler")
    lam.create_event_source_mapping(
        FunctionName=stream,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=3600,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    scheduler = _function(
        lam, f"{name}-scheduler", role, "handlers.orchestration.scheduler.handler"
    )
    events = aws("events")
    rule_arn = events.put_rule(
        Name=f"{name}-schedule", ScheduleExpression="rate(15 minutes)", State="ENABLED"
    )["RuleArn"]
    events.put_targets(
        Rule=f"{name}-schedule",
        Targets=[
            {
                "Id": "scheduler",
                "Arn": lam.get_function(FunctionName=scheduler)["Configuration"]["FunctionArn"],
            }
        ],
    )
    return HandWiredFlow(
        topic_arn,
        queue_url,
        dlq_url,
        extract,
        f"{name}-events",
        stream,
        failures_url,
        scheduler,
        rule_arn,
    )


def _role(iam: Any, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn: str = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    return arn


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _function(lam: Any, name: str, role: str, handler: str) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")  # handlers run in-process; the code is not used
    for _ in range(20):  # IAM is eventually consistent on AWS; moto is not, but be polite
        try:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": code.getvalue()},
                Timeout=FUNCTION_TIMEOUT,
                MemorySize=512,
                Environment={"Variables": {"REEF_CONNECTOR": name.rsplit("-", 1)[0]}},
            )
            return name
        except lam.exceptions.InvalidParameterValueException:
            time.sleep(0.1)
    raise RuntimeError(f"could not create function {name}")
