"""IAM grants refuse wildcards before anything is synthesized."""

import pytest

from modules.iam import Condition, Grant


def test_a_grant_of_every_action_of_a_service_is_refused():
    with pytest.raises(ValueError, match="wildcard action"):
        Grant("TooBroad", ("sqs:*",), ("arn:aws:sqs:eu-west-1:111111111111:q",))


def test_a_grant_on_every_resource_is_refused_for_actions_that_take_resources():
    with pytest.raises(ValueError, match="s3:GetObject on every resource"):
        Grant("Unscoped", ("s3:GetObject", "xray:PutTraceSegments"), ("*",))


def test_actions_without_resource_types_may_use_every_resource():
    grant = Grant(
        "Metrics",
        ("cloudwatch:PutMetricData",),
        ("*",),
        (Condition("StringEquals", "cloudwatch:namespace", ("Reef",)),),
    )
    assert grant.resources == ("*",)
