"""The local runtime drives simple test handlers through the wiring deployed in the emulator."""

import base64
import json
import os
import uuid
from typing import Any

import pytest

from generator.local.runtime import LambdaContext, LocalRuntime
from tests.integration.local.hand_wired import FUNCTION_TIMEOUT, MAX_RECEIVE_COUNT, wire_flow

pytestmark = pytest.mark.slow


@pytest.fixture
def flow(aws: Any) -> Any:
    return wire_flow(aws, f"t{uuid.uuid4().hex[:8]}")


def test_a_message_published_to_the_first_topic_reaches_its_function(aws, flow, runtime_for):
    seen: list[dict[str, Any]] = []

    def extract(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        seen.append(
            {
                "bodies": [record["body"] for record in event["Records"]],
                "source": event["Records"][0]["eventSource"],
                "connector": os.environ.get("REEF_CONNECTOR"),
                "remaining": context.get_remaining_time_in_millis(),
                "function": context.function_name,
            }
        )
        return {"batchItemFailures": []}

    aws("sns").publish(TopicArn=flow.scheduled_topic_arn, Message=json.dumps({"unit": "orders"}))
    runtime = runtime_for({flow.extract_function: extract})
    runtime.run_until_idle(timeout_seconds=30)

    assert len(seen) == 1
    assert seen[0]["bodies"] == [json.dumps({"unit": "orders"})]  # raw delivery: no SNS envelope
    assert seen[0]["source"] == "aws:sqs"
    assert seen[0]["connector"] == flow.extract_function.rsplit("-", 1)[0]
    assert 0 < seen[0]["remaining"] <= FUNCTION_TIMEOUT * 1000
    assert seen[0]["function"] == flow.extract_function
    assert "REEF_CONNECTOR" not in os.environ  # the function's variables are restored after


def test_a_failing_record_is_retried_and_dead_lettered_while_the_rest_of_its_batch_succeeds(
    aws, flow, runtime_for
):
    sqs = aws("sqs")
    for body in ["good-1", "poison", "good-2"]:
        sqs.send_message(QueueUrl=flow.extract_queue_url, MessageBody=body)
    deliveries: dict[str, int] = {}

    def extract(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            deliveries[record["body"]] = deliveries.get(record["body"], 0) + 1
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    runtime_for({flow.extract_function: extract}).run_until_idle(timeout_seconds=30)

    assert deliveries == {"good-1": 1, "good-2": 1, "poison": MAX_RECEIVE_COUNT}
    dead = sqs.receive_message(
        QueueUrl=flow.extract_dlq_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [message["Body"] for message in dead] == ["poison"]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT
    remaining = sqs.get_queue_attributes(
        QueueUrl=flow.extract_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert remaining["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_handler_that_raises_returns_its_whole_batch_for_retry(aws, flow, runtime_for):
    sqs = aws("sqs")
    sqs.send_message(QueueUrl=flow.extract_queue_url, MessageBody="first")
    calls: list[list[str]] = []

    def extract(event: dict[str, Any], context: LambdaContext) -> None:
        calls.append([record["body"] for record in event["Records"]])
        if len(calls) == 1:
            raise ConnectionResetError("the source went away")

    runtime = runtime_for({flow.extract_function: extract})
    runtime.run_until_idle(timeout_seconds=30)

    assert calls == [["first"], ["first"]]
    assert runtime.summary.errors[flow.extract_function] == 1


def test_a_kinesis_batch_with_one_bad_record_bisects_and_the_good_records_are_processed(
    aws, flow, runtime_for
):
    kinesis = aws("kinesis")
    payloads = [f"event-{n}" for n in range(8)]
    for payload in payloads:
        kinesis.put_record(StreamName=flow.stream_name, Data=payload.encode(), PartitionKey="p")
    batch_sizes: list[int] = []
    processed: list[str] = []

    def stream(event: dict[str, Any], context: LambdaContext) -> None:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        batch_sizes.append(len(data))
        if "event-5" in data:
            raise ValueError("record event-5 is not JSON")
        processed.extend(data)

    runtime_for({flow.stream_function: stream}).run_until_idle(timeout_seconds=30)

    assert sorted(processed) == sorted(p for p in payloads if p != "event-5")
    # the whole batch; its good half; the bad half, halved down to the bad record, which is
    # tried once and retried twice (MaximumRetryAttempts 2); then the rest of its half
    assert batch_sizes == [8, 4, 4, 2, 1, 1, 1, 1, 2]
    failures = aws("sqs").receive_message(QueueUrl=flow.stream_failures_url)["Messages"]
    batch = json.loads(failures[0]["Body"])["KinesisBatchInfo"]
    assert batch["batchSize"] == 1
    assert batch["startSequenceNumber"] == batch["endSequenceNumber"]


def test_trigger_calls_the_scheduler_with_the_event_its_schedule_rule_sends(flow, runtime_for):
    received: list[dict[str, Any]] = []
    runtime = runtime_for({flow.scheduler_function: lambda event, context: received.append(event)})

    invocation = runtime.trigger(flow.scheduler_function.rsplit("-", 1)[0])

    assert invocation.ok
    assert received[0]["detail-type"] == "Scheduled Event"
    assert received[0]["source"] == "aws.events"
    assert received[0]["resources"] == [flow.schedule_rule_arn]


def test_the_runtime_reaches_the_emulator_without_aws_credentials_on_the_machine(
    flow, emulator_endpoint, monkeypatch
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    runtime = LocalRuntime(emulator_endpoint, "us-east-1", "123456789012")
    wiring = runtime.refresh()

    assert wiring.functions  # read from the emulator with the runtime's own credentials
