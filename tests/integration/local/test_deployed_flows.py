"""Simple test handlers, driven by the local runtime through the stacks deployed with Terraform."""

import base64
import json
from typing import Any

import boto3
import pytest

from generator.local.runtime import LambdaContext, LocalRuntime
from generator.local.runtime.wiring import Wiring, read_wiring
from handlers.contracts import runtime as contract

# one test process deploys the stacks (several minutes, counted in the timeout of the first
# test that needs them) and the Terraform and local runtime tests share that deployment
pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

TABLE_FLOW = "billing-replica"  # a PostgreSQL source: scheduled topic -> extract queue
STREAM_FLOW = "app-events"  # a Kinesis source: stream -> stream function


@pytest.fixture
def wiring(local_deployment: Any) -> Wiring:
    return read_wiring(boto3.Session(region_name="us-east-1"), local_deployment.endpoint)


@pytest.fixture
def aws(local_deployment: Any) -> Any:
    session = boto3.Session(region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=local_deployment.endpoint)


def function_named(wiring: Wiring, connector: str, handler: str) -> str:
    (name,) = [
        f.name
        for f in wiring.functions.values()
        if f.environment.get(contract.CONNECTOR) == connector and f.handler == handler
    ]
    return name


def runtime_with(local_deployment: Any, handlers: dict[str, Any]) -> LocalRuntime:
    runtime = LocalRuntime(
        local_deployment.endpoint,
        "us-east-1",
        "123456789012",
        handlers=handlers,
        only_functions=handlers.keys(),
        retry_delay_seconds=0,
    )
    runtime.refresh()
    return runtime


def queue_url(aws: Any, queue_arn: str) -> str:
    url: str = aws("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    return url


def test_a_message_published_to_a_flows_first_topic_reaches_its_extract_function(
    local_deployment, wiring, aws
):
    extract = function_named(wiring, TABLE_FLOW, contract.EXTRACT_HANDLER)
    seen: list[tuple[list[str], str | None, int]] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        import os

        seen.append(
            (
                [r["body"] for r in event["Records"]],
                os.environ.get(contract.CONNECTOR),
                context.get_remaining_time_in_millis(),
            )
        )
        return {"batchItemFailures": []}

    topic = f"arn:aws:sns:us-east-1:123456789012:{TABLE_FLOW}-scheduled"
    aws("sns").publish(TopicArn=topic, Message=json.dumps({"unit": "invoices"}))
    runtime_with(local_deployment, {extract: handler}).run_until_idle(timeout_seconds=60)

    assert [(bodies, connector) for bodies, connector, _ in seen] == [
        ([json.dumps({"unit": "invoices"})], TABLE_FLOW)
    ]
    assert 0 < seen[0][2] <= wiring.functions[extract].timeout * 1000


def test_a_failing_message_is_retried_then_dead_lettered_while_the_others_succeed(
    local_deployment, wiring, aws
):
    extract = function_named(wiring, TABLE_FLOW, contract.EXTRACT_HANDLER)
    (mapping,) = [m for m in wiring.queue_mappings if m.function_name == extract]
    attributes = aws("sqs").get_queue_attributes(
        QueueUrl=mapping.queue_url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    for body in ["good-1", "poison-1", "good-2"]:
        aws("sqs").send_message(QueueUrl=mapping.queue_url, MessageBody=body)
    deliveries: dict[str, int] = {}

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            deliveries[record["body"]] = deliveries.get(record["body"], 0) + 1
            if record["body"].startswith("poison"):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    runtime_with(local_deployment, {extract: handler}).run_until_idle(timeout_seconds=60)

    assert deliveries == {"good-1": 1, "good-2": 1, "poison-1": int(redrive["maxReceiveCount"])}
    dead = (
        aws("sqs")
        .receive_message(
            QueueUrl=queue_url(aws, redrive["deadLetterTargetArn"]), MaxNumberOfMessages=10
        )
        .get("Messages", [])
    )
    assert [message["Body"] for message in dead] == ["poison-1"]


def test_a_kinesis_batch_with_one_bad_record_bisects_and_its_good_records_are_processed(
    local_deployment, wiring, aws
):
    stream_function = function_named(wiring, STREAM_FLOW, contract.STREAM_HANDLER)
    (mapping,) = [m for m in wiring.stream_mappings if m.function_name == stream_function]
    payloads = [json.dumps({"event_id": f"e{n}"}) for n in range(8)]
    for payload in payloads:
        aws("kinesis").put_record(
            StreamARN=mapping.stream_arn, Data=payload.encode(), PartitionKey="user-1"
        )
    bad = payloads[5]
    batch_sizes: list[int] = []
    processed: list[str] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> None:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        batch_sizes.append(len(data))
        if bad in data:
            raise ValueError("one record of this batch is poison")
        processed.extend(data)

    runtime_with(local_deployment, {stream_function: handler}).run_until_idle(timeout_seconds=60)

    assert sorted(processed) == sorted(p for p in payloads if p != bad)
    retries = mapping.max_retries
    assert batch_sizes == [8, 4, 4, 2, 1, *([1] * (1 + retries)), 2]
    discarded = aws("sqs").receive_message(
        QueueUrl=queue_url(aws, mapping.on_failure_destination or "")
    )["Messages"]
    assert json.loads(discarded[0]["Body"])["KinesisBatchInfo"]["batchSize"] == 1
