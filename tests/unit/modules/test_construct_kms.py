"""The key policy lets the account administer the key and Reef's services use it."""

import json

from modules.kms import key_policy


def test_the_key_policy_names_the_account_and_each_service_that_encrypts_for_reef():
    policy = json.loads(key_policy("111111111111", "eu-west-1"))
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["AccountAdministersKey"]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    services = set(by_sid["ReefServicesUseKey"]["Principal"]["Service"])
    assert {
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "lambda.amazonaws.com",
        "kinesis.amazonaws.com",
        "events.amazonaws.com",
    } <= services
    assert by_sid["ReefServicesUseKey"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111111111111"}
    }
    assert by_sid["LogsUseKey"]["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}


def test_the_key_policy_is_the_same_text_every_time():
    assert key_policy("111111111111", "eu-west-1") == key_policy("111111111111", "eu-west-1")
