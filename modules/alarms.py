"""CloudWatch alarms of a connector, all notifying the environment's alarm topic."""

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

# The longest period a CloudWatch metric alarm may use is one day.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
MAX_PERIOD_SECONDS = 86_400


def dead_letter_alarm(
    scope: Construct, construct_id: str, *, queue_name: str, topic_arn: str
) -> CloudwatchMetricAlarm:
    """Any message in a dead-letter queue needs a person."""
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=f"{queue_name}-not-empty",
        alarm_description=f"Messages in {queue_name}: inspect them, fix the cause, redrive.",
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        period=300,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
    )


def function_errors_alarm(
    scope: Construct, construct_id: str, *, function_name: str, topic_arn: str
) -> CloudwatchMetricAlarm:
    """A function that raised (not a message it reported as failed)."""
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=f"{function_name}-errors",
        alarm_description=f"{function_name} raised errors; see its log group.",
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions={"FunctionName": function_name},
        statistic="Sum",
        period=300,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
    )


def iterator_age_alarm(
    scope: Construct,
    construct_id: str,
    *,
    function_name: str,
    stream_name: str,
    threshold_seconds: int,
    topic_arn: str,
) -> CloudwatchMetricAlarm:
    """The stream function falls behind: its oldest unread record is getting old."""
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=f"{function_name}-iterator-age",
        alarm_description=f"{function_name} lags behind stream {stream_name}.",
        namespace="AWS/Lambda",
        metric_name="IteratorAge",
        dimensions={"FunctionName": function_name},
        statistic="Maximum",
        period=300,
        evaluation_periods=3,
        threshold=threshold_seconds * 1000,  # IteratorAge is in milliseconds
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
    )


def freshness_alarm(
    scope: Construct,
    construct_id: str,
    *,
    connector: str,
    namespace: str,
    metric_name: str,
    schedule_period_seconds: int,
    schedule_enabled: bool,
    topic_arn: str,
) -> CloudwatchMetricAlarm:
    """The newest loaded timelabel is more than three schedule periods old.

    The scheduler reports the lag at every tick, so no data while the schedule is on means
    nothing runs: that counts as breaching. A schedule turned off is not an alarm.
    """
    period = min(max(schedule_period_seconds, 60), MAX_PERIOD_SECONDS)
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=f"{connector}-freshness",
        alarm_description=f"{connector}: the newest loaded data is older than three periods.",
        namespace=namespace,
        metric_name=metric_name,
        dimensions={"connector": connector},
        statistic="Maximum",
        period=period,
        evaluation_periods=1,
        threshold=3 * schedule_period_seconds,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="breaching" if schedule_enabled else "notBreaching",
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
    )
