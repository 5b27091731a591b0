"""The synthesized local stacks, applied with Terraform into moto, are wired as the specs say."""

import json
from typing import Any

import boto3
import pytest

from generator.local.runtime.wiring import Wiring, read_wiring
from generator.specs import load_specs
from handlers.contracts import runtime as contract
from handlers.contracts.spec import ConnectorSpec, KinesisSource

# one test process deploys the stacks (several minutes, counted in the timeout of the first
# test that needs them) and the Terraform and local runtime tests share that deployment
pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

MIN_MAX_RECEIVE_COUNT = 5  # ARCHITECTURE 4: AWS guidance for queues that trigger Lambda
VISIBILITY_FACTOR = 6


def emulator_session(local_deployment: Any) -> boto3.Session:
    # module fixtures run before the autouse fake credentials, so they bring their own
    return boto3.Session(
        region_name=local_deployment.environment.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def aws(local_deployment: Any) -> Any:
    session = emulator_session(local_deployment)
    return lambda service: session.client(service, endpoint_url=local_deployment.endpoint)


@pytest.fixture(scope="module")
def wiring(local_deployment: Any) -> Wiring:
    return read_wiring(emulator_session(local_deployment), local_deployment.endpoint)


@pytest.fixture(scope="module")
def specs() -> dict[str, ConnectorSpec]:
    return load_specs()


def functions_of(wiring: Wiring, connector: str) -> dict[str, Any]:
    """The connector's functions by role (scheduler, extract, load, stream), from their handler."""
    roles = {
        contract.SCHEDULER_HANDLER: "scheduler",
        contract.EXTRACT_HANDLER: "extract",
        contract.LOAD_HANDLER: "load",
        contract.STREAM_HANDLER: "stream",
    }
    return {
        roles[f.handler]: f
        for f in wiring.functions.values()
        if f.environment.get(contract.CONNECTOR) == connector and f.handler in roles
    }


def queue_attributes(aws: Any, queue_arn: str) -> dict[str, str]:
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    attributes: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    return attributes


def subscriptions_of(aws: Any, topic_name: str) -> list[dict[str, Any]]:
    sns = aws("sns")
    topic_arn = f"arn:aws:sns:{sns.meta.region_name}:{topic_arn_account(aws)}:{topic_name}"
    found: list[dict[str, Any]] = sns.list_subscriptions_by_topic(TopicArn=topic_arn)[
        "Subscriptions"
    ]
    for subscription in found:
        subscription["Attributes"] = sns.get_subscription_attributes(
            SubscriptionArn=subscription["SubscriptionArn"]
        )["Attributes"]
    return found


def topic_arn_account(aws: Any) -> str:
    account: str = aws("sts").get_caller_identity()["Account"]
    return account


def test_every_connector_has_its_functions_each_with_a_role_of_its_own(
    local_deployment, wiring, specs, aws
):
    iam = aws("iam")
    roles_seen = set()
    for name, spec in specs.items():
        functions = functions_of(wiring, name)
        expected = {"scheduler", "load"} | (
            {"stream"} if isinstance(spec.source, KinesisSource) else {"extract"}
        )
        assert set(functions) == expected, name
        settings = local_deployment.environment.lambda_settings(spec)
        for function in functions.values():
            assert function.timeout == settings.timeout, function.name
            assert function.memory == settings.memory, function.name
            assert function.layers, f"{function.name} has no layer"
            assert function.environment[contract.CONFIG_KEY] == contract.config_key(name)
            role_name = function.role.rsplit("/", 1)[1]
            assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == function.role
            roles_seen.add(function.role)
    assert len(roles_seen) == sum(len(functions_of(wiring, name)) for name in specs)


def test_every_work_queue_has_a_dead_letter_queue_and_a_mapping_that_reports_item_failures(
    wiring, specs, aws
):
    for name in specs:
        functions = functions_of(wiring, name)
        mapped = [
            m
            for m in wiring.queue_mappings
            if m.function_name in {f.name for f in functions.values()}
        ]
        assert {m.function_name for m in mapped} == {
            f.name for role, f in functions.items() if role in ("extract", "load")
        }, name
        for mapping in mapped:
            assert mapping.report_batch_item_failures, mapping.queue_arn
            attributes = queue_attributes(aws, mapping.queue_arn)
            redrive = json.loads(attributes["RedrivePolicy"])
            assert int(redrive["maxReceiveCount"]) >= MIN_MAX_RECEIVE_COUNT
            timeout = wiring.functions[mapping.function_name].timeout
            assert int(attributes["VisibilityTimeout"]) >= VISIBILITY_FACTOR * timeout
            dead_letters = queue_attributes(aws, redrive["deadLetterTargetArn"])
            assert int(dead_letters["MessageRetentionPeriod"]) > int(
                attributes["MessageRetentionPeriod"]
            )


def test_the_scheduled_and_extracted_topics_deliver_raw_messages_to_the_work_queues(
    wiring, specs, aws
):
    for name, spec in specs.items():
        functions = functions_of(wiring, name)
        queue_of = {m.function_name: m.queue_arn for m in wiring.queue_mappings}
        expected = {f"{name}-extracted": queue_of[functions["load"].name]}
        if not isinstance(spec.source, KinesisSource):
            expected[f"{name}-scheduled"] = queue_of[functions["extract"].name]
        for topic, queue_arn in expected.items():
            subscriptions = subscriptions_of(aws, topic)
            assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("sqs", queue_arn)]
            assert subscriptions[0]["Attributes"]["RawMessageDelivery"] == "true"
        aws("sns").get_topic_attributes(
            TopicArn=f"arn:aws:sns:us-east-1:{topic_arn_account(aws)}:{name}-loaded"
        )


def test_a_stream_source_has_its_stream_and_a_mapping_with_the_specs_error_handling(
    wiring, specs, aws
):
    streams = {
        name: spec.source for name, spec in specs.items() if isinstance(spec.source, KinesisSource)
    }
    assert streams, "the example connectors include a stream source"
    for name, source in streams.items():
        function = functions_of(wiring, name)["stream"]
        (mapping,) = [m for m in wiring.stream_mappings if m.function_name == function.name]
        settings = source.stream
        assert mapping.batch_size == settings.batch_size
        assert mapping.batching_window_seconds == settings.batching_window_seconds
        assert mapping.bisect_on_error
        assert mapping.max_retries == settings.max_retries
        assert mapping.max_record_age_seconds == settings.max_record_age_seconds
        assert mapping.report_batch_item_failures
        assert mapping.on_failure_destination, "discarded batches must go somewhere"
        queue_attributes(aws, mapping.on_failure_destination)  # exists
        stream = aws("kinesis").describe_stream_summary(StreamARN=mapping.stream_arn)[
            "StreamDescriptionSummary"
        ]
        assert stream["RetentionPeriodHours"] == settings.retention_hours
        assert stream["StreamModeDetails"]["StreamMode"] == settings.mode.upper()


def test_each_schedule_rule_fires_its_connectors_scheduler_with_the_specs_expression(
    local_deployment, wiring, specs
):
    environment = local_deployment.environment
    for name, spec in specs.items():
        scheduler = functions_of(wiring, name)["scheduler"]
        rules = [
            r for r in wiring.schedules if any(target == scheduler.arn for target, _ in r.targets)
        ]
        assert len(rules) == 1, name
        override = environment.overrides.get(name)
        assert rules[0].expression == ((override and override.schedule) or spec.schedule)
        assert rules[0].enabled == environment.schedule_enabled(name)
