"""The schedule of a connector: an EventBridge rule that invokes its scheduler function."""

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from modules.messaging import allow_service_to_send

# A tick that cannot be delivered within one hour is stale: the next tick covers its range.
MAXIMUM_EVENT_AGE_SECONDS = 3600
MAXIMUM_RETRY_ATTEMPTS = 5


class ScheduleRule(Construct):
    """Rule, target with retries and a dead-letter queue, and the invoke permission."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        expression: str,
        enabled: bool,
        function_arn: str,
        function_name: str,
        dead_letters: SqsQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = CloudwatchEventRule(
            self,
            "rule",
            name=name,
            description=f"Reef schedule of {function_name}",
            schedule_expression=expression,
            state="ENABLED" if enabled else "DISABLED",
        )
        CloudwatchEventTarget(
            self,
            "target",
            rule=self.rule.name,
            target_id="scheduler",
            arn=function_arn,
            retry_policy={
                "maximum_event_age_in_seconds": MAXIMUM_EVENT_AGE_SECONDS,
                "maximum_retry_attempts": MAXIMUM_RETRY_ATTEMPTS,
            },
            dead_letter_config={"arn": dead_letters.arn},
        )
        # EventBridge delivers undeliverable ticks with its own principal.
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
        allow_service_to_send(
            self,
            "dlq-policy",
            queue=dead_letters,
            service="events.amazonaws.com",
            source_arn=self.rule.arn,
        )
        LambdaPermission(
            self,
            "invoke",
            statement_id="InvokedBySchedule",
            action="lambda:InvokeFunction",
            function_name=function_name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
        )
