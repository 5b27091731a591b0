"""The wiring of the synthesized example stacks, asserted on cdktf's JSON output."""

import json
import re
from typing import Any

import pytest

from generator.environments import load_environment
from generator.provider import EMULATED_SERVICES, emulator_endpoint
from generator.specs import load_specs
from handlers.contracts import runtime
from tests.unit.stacks.synthesis import (
    EXAMPLE_ENVIRONMENTS,
    Synthesized,
    data_sources,
    reference,
    resources,
)

# Actions for which AWS offers no narrower resource than "*" (Service Authorization
# Reference); written out here independently of modules/iam.py on purpose.
WILDCARD_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "redshift-data:DescribeStatement",
    "redshift-data:GetStatementResult",
}
CONNECTORS = sorted(load_specs())


def all_connector_stacks(synthesized: dict[str, Synthesized]) -> list[tuple[str, str, Any]]:
    return [
        (environment, connector, stack)
        for environment, output in synthesized.items()
        for connector, stack in output.connector_stacks().items()
    ]


def consumer_timeout(stack: dict[str, Any], queue_id: str) -> int:
    """The timeout of the function that an event source mapping feeds from the queue."""
    queue_arn = reference("aws_sqs_queue", queue_id, "arn")
    (mapping,) = [
        mapping
        for mapping in resources(stack, "aws_lambda_event_source_mapping").values()
        if mapping["event_source_arn"] == queue_arn
    ]
    functions = resources(stack, "aws_lambda_function")
    (function,) = [
        function
        for logical_id, function in functions.items()
        if mapping["function_name"] == reference("aws_lambda_function", logical_id, "function_name")
    ]
    timeout: int = function["timeout"]
    return timeout


def work_queues(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: queue
        for logical_id, queue in resources(stack, "aws_sqs_queue").items()
        if "redrive_policy" in queue
    }


def test_every_example_spec_synthesizes_for_every_example_environment(synthesized):
    for environment in EXAMPLE_ENVIRONMENTS:
        expected = sorted([f"core-{environment}", *(f"{c}-{environment}" for c in CONNECTORS)])
        assert synthesized[environment].stack_names == expected


def test_every_work_queue_has_a_dead_letter_queue_that_receives_after_five_attempts(
    synthesized,
):
    checked = 0
    for _, _, stack in all_connector_stacks(synthesized):
        queues = resources(stack, "aws_sqs_queue")
        for queue in work_queues(stack).values():
            redrive = json.loads(queue["redrive_policy"])
            target = re.fullmatch(r"\$\{aws_sqs_queue\.(.+)\.arn\}", redrive["deadLetterTargetArn"])
            assert target and target[1] in queues
            assert redrive["maxReceiveCount"] >= 5
            checked += 1
    assert checked == 3 * (2 * 4 - 1)  # extract and load queues; no extract for the stream


def test_every_work_queue_hides_messages_for_six_times_its_consumers_timeout(synthesized):
    for _, _, stack in all_connector_stacks(synthesized):
        for logical_id, queue in work_queues(stack).items():
            assert queue["visibility_timeout_seconds"] >= 6 * consumer_timeout(stack, logical_id)


def test_dead_letters_are_kept_longer_than_work_messages(synthesized):
    for _, _, stack in all_connector_stacks(synthesized):
        queues = resources(stack, "aws_sqs_queue")
        for queue in work_queues(stack).values():
            target = json.loads(queue["redrive_policy"])["deadLetterTargetArn"]
            dead_letters = queues[target.split(".")[1]]
            assert dead_letters["message_retention_seconds"] > queue["message_retention_seconds"]


def test_every_event_source_mapping_reports_batch_item_failures(synthesized):
    mappings = [
        mapping
        for _, _, stack in all_connector_stacks(synthesized)
        for mapping in resources(stack, "aws_lambda_event_source_mapping").values()
    ]
    assert len(mappings) == 3 * 8
    for mapping in mappings:
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]


def test_the_stream_mapping_bisects_retries_finitely_and_keeps_failures(local):
    stack = local.connector_stacks()["app-events"]
    (mapping,) = [
        m
        for m in resources(stack, "aws_lambda_event_source_mapping").values()
        if "kinesis_stream" in m["event_source_arn"]
    ]
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["maximum_retry_attempts"] == 3
    assert mapping["maximum_record_age_in_seconds"] == 3600
    assert mapping["batch_size"] == 500
    assert mapping["maximum_batching_window_in_seconds"] == 10
    assert "aws_sqs_queue" in mapping["destination_config"]["on_failure"]["destination_arn"]
    (stream,) = resources(stack, "aws_kinesis_stream").values()
    assert stream["stream_mode_details"]["stream_mode"] == "ON_DEMAND"
    assert stream["encryption_type"] == "KMS"
    alarms = resources(stack, "aws_cloudwatch_metric_alarm").values()
    assert any(alarm["metric_name"] == "IteratorAge" for alarm in alarms)


def allow_statements(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for document in data_sources(stack, "aws_iam_policy_document").values()
        for statement in document["statement"]
        if statement.get("effect", "Allow") == "Allow"
    ]


def test_no_statement_allows_wildcard_actions_or_unscoped_resources(synthesized):
    for output in synthesized.values():
        for name in output.stack_names:
            for statement in allow_statements(output.stack(name)):
                actions = statement["actions"]
                assert not [a for a in actions if a == "*" or a.endswith(":*")], statement
                if "*" in statement.get("resources", []):
                    assert set(actions) <= WILDCARD_RESOURCE_ACTIONS, statement


def test_metrics_may_be_put_only_into_reefs_namespace(local):
    for stack in local.connector_stacks().values():
        for statement in allow_statements(stack):
            if "cloudwatch:PutMetricData" in statement["actions"]:
                (condition,) = statement["condition"]
                assert condition["variable"] == "cloudwatch:namespace"
                assert condition["values"] == [runtime.METRICS_NAMESPACE]


def test_each_role_names_only_its_own_connectors_resources(synthesized):
    for _, connector, stack in all_connector_stacks(synthesized):
        others = [other for other in CONNECTORS if other != connector]
        for statement in allow_statements(stack):
            text = json.dumps(statement)
            assert not [other for other in others if other in text], statement
            for condition in statement.get("condition", []):
                if condition["variable"] == "dynamodb:LeadingKeys":
                    assert condition["values"] == [f"{connector}#*"]
                if condition["variable"] == "s3:prefix":
                    assert condition["values"] == [f"{runtime.STAGING_PREFIX}/{connector}/*"]
            for resource in statement.get("resources", []):
                if any(
                    f"/{part}/" in resource for part in ("batches", "reef-config", "quarantine")
                ):
                    assert f"/{connector}" in resource


def test_every_bookkeeping_grant_is_confined_to_the_connectors_items(synthesized):
    for _, connector, stack in all_connector_stacks(synthesized):
        for statement in allow_statements(stack):
            if any(action.startswith("dynamodb:") for action in statement["actions"]):
                variables = [condition["variable"] for condition in statement["condition"]]
                assert variables == ["dynamodb:LeadingKeys"], (connector, statement)


def test_queue_consumers_are_told_their_dead_letter_queue_and_may_send_to_it(local):
    for stack in local.connector_stacks().values():
        for logical_id, function in resources(stack, "aws_lambda_function").items():
            variables = function["environment"]["variables"]
            if not ({runtime.EXTRACT_QUEUE_URL, runtime.LOAD_QUEUE_URL} & set(variables)):
                continue
            dead_letters = variables[runtime.DEAD_LETTER_QUEUE_URL]
            assert dead_letters.endswith(".url}") and "dlq" in dead_letters, logical_id
            sends = [
                statement
                for statement in allow_statements(stack)
                if statement["actions"] == ["sqs:SendMessage"]
                and dead_letters.replace(".url}", ".arn}") in statement["resources"]
            ]
            assert sends, logical_id


def test_secrets_are_granted_by_arn_with_the_secrets_manager_suffix(dev):
    stack = dev.connector_stacks()["shop-orders"]
    secrets = {
        resource
        for statement in allow_statements(stack)
        if statement["actions"] == ["secretsmanager:GetSecretValue"]
        for resource in statement["resources"]
    }
    assert secrets == {
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:reef/shop-db-??????",
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:reef/redshift-??????",
    }


def test_every_function_runs_python_312_from_the_layer_with_tracing(synthesized):
    handlers = {
        runtime.SCHEDULER_HANDLER,
        runtime.EXTRACT_HANDLER,
        runtime.LOAD_HANDLER,
        runtime.STREAM_HANDLER,
    }
    for environment, _, stack in all_connector_stacks(synthesized):
        for function in resources(stack, "aws_lambda_function").values():
            (layer,) = function["layers"]
            assert "aws_lambda_layer_version" in layer
            assert f"cross-stack-reference-input-core-{environment}" in layer
            assert function["runtime"] == "python3.12"
            assert function["handler"] in handlers
            assert function["tracing_config"] == {"mode": "Active"}
            assert "kms_key_arn" in function
            assert function["reserved_concurrent_executions"] >= 1


def test_function_settings_follow_environment_spec_and_override(synthesized):
    def load_memory(environment: str, connector: str) -> int:
        stack = synthesized[environment].connector_stacks()[connector]
        (load,) = [
            f
            for f in resources(stack, "aws_lambda_function").values()
            if f["function_name"] == f"{connector}-load"
        ]
        return int(load["memory_size"])

    assert load_memory("dev", "billing-replica") == 512  # environment default
    assert load_memory("dev", "shop-orders") == 1024  # spec
    assert load_memory("prod", "shop-orders") == 2048  # prod override


def test_environment_variables_carry_only_names_and_arns(synthesized):
    for _, connector, stack in all_connector_stacks(synthesized):
        for function in resources(stack, "aws_lambda_function").values():
            variables = function["environment"]["variables"]
            assert len(json.dumps(variables)) < 4096
            assert all(name.startswith("REEF_") for name in variables)
            assert variables[runtime.CONNECTOR] == connector
            assert variables[runtime.CONFIG_KEY] == runtime.config_key(connector)
            assert "password" not in json.dumps(variables).lower()


def test_only_functions_that_reach_postgres_are_placed_in_the_vpc(synthesized):
    def in_vpc(environment: str, connector: str) -> set[str]:
        stack = synthesized[environment].connector_stacks()[connector]
        return {
            f["function_name"].removeprefix(f"{connector}-")
            for f in resources(stack, "aws_lambda_function").values()
            if "vpc_config" in f
        }

    assert in_vpc("dev", "shop-orders") == {"scheduler", "extract"}
    assert in_vpc("dev", "billing-replica") == {"scheduler", "extract", "load"}
    assert in_vpc("dev", "crm-salesforce") == set()
    assert in_vpc("dev", "app-events") == {"load"}
    assert in_vpc("local", "billing-replica") == set()  # the local environment has no VPC


def test_the_dev_override_turns_off_the_salesforce_schedule(synthesized):
    def state(environment: str) -> str:
        stack = synthesized[environment].connector_stacks()["crm-salesforce"]
        (rule,) = resources(stack, "aws_cloudwatch_event_rule").values()
        return str(rule["state"])

    assert state("dev") == "DISABLED"
    assert state("local") == "ENABLED"
    assert state("prod") == "ENABLED"


def test_the_schedule_retries_into_a_dead_letter_queue_and_may_invoke_only_the_scheduler(local):
    stack = local.connector_stacks()["shop-orders"]
    (rule_id,) = resources(stack, "aws_cloudwatch_event_rule")
    rule = resources(stack, "aws_cloudwatch_event_rule")[rule_id]
    assert rule["schedule_expression"] == "rate(15 minutes)"
    (target,) = resources(stack, "aws_cloudwatch_event_target").values()
    assert target["retry_policy"]["maximum_retry_attempts"] >= 1
    assert "aws_sqs_queue" in target["dead_letter_config"]["arn"]
    (permission,) = resources(stack, "aws_lambda_permission").values()
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == reference("aws_cloudwatch_event_rule", rule_id, "arn")


def test_queues_accept_messages_only_from_their_topic(local):
    stack = local.connector_stacks()["shop-orders"]
    subscriptions = resources(stack, "aws_sns_topic_subscription").values()
    assert {s["protocol"] for s in subscriptions} == {"sqs"}
    assert all(s["raw_message_delivery"] is True for s in subscriptions)
    topics = {s["endpoint"]: s["topic_arn"] for s in subscriptions}
    documents = data_sources(stack, "aws_iam_policy_document")
    for policy in resources(stack, "aws_sqs_queue_policy").values():
        document_id = policy["policy"].split(".")[2]
        (statement,) = documents[document_id]["statement"]
        (condition,) = statement["condition"]
        (queue_arn,) = statement["resources"]
        if queue_arn in topics:
            assert condition["values"] == [topics[queue_arn]]
            assert statement["principals"][0]["identifiers"] == ["sns.amazonaws.com"]


def test_every_queue_topic_and_log_group_is_encrypted_with_the_core_key(synthesized):
    key = "cross-stack-output-aws_kms_keykey"
    for _, _, stack in all_connector_stacks(synthesized):
        for queue in resources(stack, "aws_sqs_queue").values():
            assert key in queue["kms_master_key_id"]
        for topic in resources(stack, "aws_sns_topic").values():
            assert key in topic["kms_master_key_id"]
        for group in resources(stack, "aws_cloudwatch_log_group").values():
            assert key in group["kms_key_id"]


def test_every_dead_letter_queue_and_function_has_an_alarm_and_so_has_freshness(local):
    for connector, stack in local.connector_stacks().items():
        alarms = resources(stack, "aws_cloudwatch_metric_alarm").values()
        watched_queues = {a["dimensions"].get("QueueName") for a in alarms}
        dead_letter_names = {
            q["name"]
            for q in resources(stack, "aws_sqs_queue").values()
            if "redrive_policy" not in q
        }
        assert dead_letter_names <= watched_queues
        errored = {
            a["dimensions"].get("FunctionName") for a in alarms if a["metric_name"] == "Errors"
        }
        functions = {f["function_name"] for f in resources(stack, "aws_lambda_function").values()}
        assert functions == errored
        (freshness,) = [a for a in alarms if a["metric_name"] == runtime.FRESHNESS_METRIC]
        assert freshness["namespace"] == runtime.METRICS_NAMESPACE
        assert freshness["dimensions"] == {"connector": connector}
        assert all("alarms_topic" in a["alarm_actions"][0] for a in alarms)


def test_the_runtime_config_document_is_written_where_functions_read_it(local):
    for connector, stack in local.connector_stacks().items():
        (document,) = resources(stack, "aws_s3_object").values()
        assert document["key"] == runtime.config_key(connector)
        config = runtime.RuntimeConfig.model_validate_json(document["content"].replace("$${", "${"))
        assert config.connector.name == connector
        assert config.environment == "local"
        assert document["server_side_encryption"] == "aws:kms"


def test_the_core_stack_holds_the_shared_resources(dev):
    core = dev.stack("core-dev")
    (key,) = resources(core, "aws_kms_key").values()
    assert key["enable_key_rotation"] is True
    services = json.loads(key["policy"])["Statement"][1]["Principal"]["Service"]
    assert {
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "lambda.amazonaws.com",
        "kinesis.amazonaws.com",
    } <= set(services)
    (alias,) = resources(core, "aws_kms_alias").values()
    assert alias["name"] == "alias/reef-dev"
    (table,) = resources(core, "aws_dynamodb_table").values()
    assert table["hash_key"] == runtime.BOOKKEEPING_PARTITION_KEY
    assert table["range_key"] == runtime.BOOKKEEPING_SORT_KEY
    assert table["ttl"] == {"attribute_name": runtime.BOOKKEEPING_TTL_ATTRIBUTE, "enabled": True}
    assert table["global_secondary_index"][0]["name"] == runtime.BOOKKEEPING_BATCH_INDEX
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    (lifecycle,) = resources(core, "aws_s3_bucket_lifecycle_configuration").values()
    staged = lifecycle["rule"][0]
    assert staged["filter"][0]["prefix"] == f"{runtime.STAGING_PREFIX}/"
    assert staged["expiration"][0]["days"] == 7
    (layer,) = resources(core, "aws_lambda_layer_version").values()
    assert layer["compatible_runtimes"] == ["python3.12"]
    assert layer["compatible_architectures"] == ["arm64"]
    (copy_role,) = resources(core, "aws_iam_role").values()
    assert "redshift.amazonaws.com" in json.dumps(data_sources(core, "aws_iam_policy_document"))
    assert copy_role["name"] == "reef-dev-redshift-copy"


def test_the_local_environment_points_every_service_at_the_emulator(local):
    endpoint = emulator_endpoint(load_environment("local"))
    for name in local.stack_names:
        (provider,) = local.stack(name)["provider"]["aws"]
        assert provider["endpoints"] == [dict.fromkeys(EMULATED_SERVICES, endpoint)]
        assert provider["skip_credentials_validation"] is True
        assert provider["s3_use_path_style"] is True
        assert "local" in local.stack(name)["terraform"]["backend"]


def test_shared_environments_keep_state_in_s3_with_native_locking(dev):
    for name in dev.stack_names:
        stack = dev.stack(name)
        backend = stack["terraform"]["backend"]["s3"]
        assert backend["use_lockfile"] is True
        assert backend["key"] == f"reef/dev/{name}.tfstate"
        (provider,) = stack["provider"]["aws"]
        assert "endpoints" not in provider
        assert provider["allowed_account_ids"] == ["111111111111"]
        tags = provider["default_tags"][0]["tags"]
        assert tags["reef:environment"] == "dev"
        if not name.startswith("core-"):
            assert tags["reef:connector"] == name.removesuffix("-dev")


@pytest.mark.parametrize("environment", EXAMPLE_ENVIRONMENTS)
def test_no_secret_value_reaches_the_synthesized_output(synthesized, environment):
    for name in synthesized[environment].stack_names:
        text = json.dumps(synthesized[environment].stack(name)).lower()
        assert '"password"' not in text
        assert "secret_key" not in text or environment == "local"
