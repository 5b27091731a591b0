"""A Kinesis stream source: the stream and how Lambda reads it."""

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import LambdaEventSourceMapping
from constructs import Construct

from modules.iam import Grant


@dataclass(frozen=True)
class StreamReading:
    """The stream's capacity and the mapping's batching and retry settings, from the spec."""

    on_demand: bool
    shards: int | None
    retention_hours: int
    batch_size: int
    batching_window_seconds: int
    parallelization_factor: int
    max_retries: int
    max_record_age_seconds: int


class EventStream(Construct):
    """A KMS-encrypted Kinesis data stream."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        key_arn: str,
        reading: StreamReading,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream = KinesisStream(
            self,
            "stream",
            name=name,
            stream_mode_details={
                "stream_mode": "ON_DEMAND" if reading.on_demand else "PROVISIONED"
            },
            shard_count=None if reading.on_demand else reading.shards,
            retention_period=reading.retention_hours,
            encryption_type="KMS",
            kms_key_id=key_arn,
        )

    @property
    def arn(self) -> str:
        return self.stream.arn

    @property
    def name(self) -> str:
        return self.stream.name

    def read_grants(self) -> list[Grant]:
        """What a function needs to be the stream's Lambda consumer."""
        # https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html
        return [
            Grant(
                "ReadOwnStream",
                (
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ),
                (self.arn,),
            )
        ]


def stream_mapping(
    scope: Construct,
    construct_id: str,
    *,
    stream_arn: str,
    function_name: str,
    reading: StreamReading,
    failure_queue_arn: str,
) -> LambdaEventSourceMapping:
    """Lambda reads the stream in batches; failing batches are bisected, retried a finite
    number of times, and then recorded in the on-failure queue."""
    # https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
    return LambdaEventSourceMapping(
        scope,
        construct_id,
        event_source_arn=stream_arn,
        function_name=function_name,
        starting_position="TRIM_HORIZON",
        batch_size=reading.batch_size,
        maximum_batching_window_in_seconds=reading.batching_window_seconds,
        parallelization_factor=reading.parallelization_factor,
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=reading.max_retries,
        maximum_record_age_in_seconds=reading.max_record_age_seconds,
        destination_config={"on_failure": {"destination_arn": failure_queue_arn}},
        function_response_types=["ReportBatchItemFailures"],
    )


def queue_mapping(
    scope: Construct, construct_id: str, *, queue_arn: str, function_name: str, batch_size: int = 1
) -> LambdaEventSourceMapping:
    """Lambda polls the queue; a handler reports the messages that failed, not the batch."""
    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
    return LambdaEventSourceMapping(
        scope,
        construct_id,
        event_source_arn=queue_arn,
        function_name=function_name,
        batch_size=batch_size,
        function_response_types=["ReportBatchItemFailures"],
    )
