"""Constructs synthesized alone with cdktf's Testing helpers."""

import json
import os

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import cdktf
from cdktf import TerraformStack
from constructs import Construct

from modules.function import (
    CodeAsset,
    FunctionCode,
    FunctionSettings,
    HandlerFunction,
    Placement,
)
from modules.iam import Grant
from modules.messaging import WorkQueue

KEY = "arn:aws:kms:eu-west-1:111111111111:key/example"
TOPIC = "arn:aws:sns:eu-west-1:111111111111:shop-scheduled"


def synthesized_stack(build) -> dict:  # type: ignore[no-untyped-def]
    """Build constructs in a fresh test stack and return the stack's Terraform JSON."""
    stack = TerraformStack(cdktf.Testing.app(), "test")
    build(stack)
    return json.loads(cdktf.Testing.synth(stack))


def test_a_work_queue_redrives_to_its_dead_letter_queue_and_hides_for_six_timeouts():
    synthesized = synthesized_stack(
        lambda scope: WorkQueue(
            scope,
            "extract",
            name="shop-extract",
            key_arn=KEY,
            consumer_timeout_seconds=300,
            topic_arn=TOPIC,
        )
    )
    queues = synthesized["resource"]["aws_sqs_queue"]
    queue = next(q for q in queues.values() if q["name"] == "shop-extract")
    dead_letters = next(q for q in queues.values() if q["name"] == "shop-extract-dlq")
    assert queue["visibility_timeout_seconds"] == 1800
    assert json.loads(queue["redrive_policy"])["maxReceiveCount"] == 5
    assert dead_letters["message_retention_seconds"] == 14 * 24 * 3600
    assert cdktf.Testing.to_have_resource_with_properties(
        json.dumps(synthesized),
        "aws_sns_topic_subscription",
        {"protocol": "sqs", "raw_message_delivery": True, "topic_arn": TOPIC},
    )


def test_a_function_in_a_vpc_may_create_interfaces_only_in_its_subnets(tmp_path):
    zip_path = tmp_path / "code.zip"
    zip_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)

    def build(scope: Construct) -> None:
        HandlerFunction(
            scope,
            "extract",
            name="shop-extract",
            handler="handlers.orchestration.extract.handler",
            code=CodeAsset(scope, "code", code=FunctionCode(zip_path, "aGFzaA==")),
            layer_arn="arn:aws:lambda:eu-west-1:111111111111:layer:reef:1",
            settings=FunctionSettings("arm64", 512, 300, 2, 30),
            key_arn=KEY,
            account="111111111111",
            region="eu-west-1",
            metrics_namespace="Reef",
            environment={"REEF_CONNECTOR": "shop"},
            grants=[Grant("Publish", ("sns:Publish",), (TOPIC,))],
            dead_letter_arn="arn:aws:sqs:eu-west-1:111111111111:shop-extract-dlq",
            placement=Placement(("subnet-1",), ("sg-1",)),
        )

    synthesized = synthesized_stack(build)
    (function,) = synthesized["resource"]["aws_lambda_function"].values()
    assert function["vpc_config"] == {"security_group_ids": ["sg-1"], "subnet_ids": ["subnet-1"]}
    assert function["dead_letter_config"]["target_arn"].endswith("shop-extract-dlq")
    statements = {
        statement["sid"]: statement
        for document in synthesized["data"]["aws_iam_policy_document"].values()
        for statement in document["statement"]
    }
    assert sorted(statements["CreateNetworkInterfaces"]["resources"]) == [
        "arn:aws:ec2:eu-west-1:111111111111:network-interface/*",
        "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-1",
        "arn:aws:ec2:eu-west-1:111111111111:subnet/subnet-1",
    ]
    assert statements["Publish"]["resources"] == [TOPIC]
    assert statements["WriteOwnLogs"]["resources"][0].endswith(".arn}:*")
