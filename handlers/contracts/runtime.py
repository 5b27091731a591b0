"""What a deployed function is told: environment variable names and the runtime config document.

Environment variables carry only names and ARNs (Lambda allows 4 KB of them). Everything
else a function needs, the resolved spec above all, is in one JSON document that the
connector stack writes to the staging bucket and that a function reads once per cold start.
The local runtime passes the same variables and reads the same document.
"""

from pydantic import BaseModel, ConfigDict, Field

from handlers.contracts.spec import ConnectorSpec

RUNTIME_CONFIG_VERSION = 1

# Environment variables of every Reef function.
ENVIRONMENT = "REEF_ENVIRONMENT"
CONNECTOR = "REEF_CONNECTOR"
CONFIG_BUCKET = "REEF_CONFIG_BUCKET"
CONFIG_KEY = "REEF_CONFIG_KEY"
BOOKKEEPING_TABLE = "REEF_BOOKKEEPING_TABLE"
STAGING_BUCKET = "REEF_STAGING_BUCKET"
# Set where the function uses them; each names only its own connector's resources.
EXTRACT_QUEUE_URL = "REEF_EXTRACT_QUEUE_URL"
LOAD_QUEUE_URL = "REEF_LOAD_QUEUE_URL"
SCHEDULED_TOPIC_ARN = "REEF_SCHEDULED_TOPIC_ARN"
EXTRACTED_TOPIC_ARN = "REEF_EXTRACTED_TOPIC_ARN"
LOADED_TOPIC_ARN = "REEF_LOADED_TOPIC_ARN"
FAILED_TOPIC_ARN = "REEF_FAILED_TOPIC_ARN"
# Secrets Manager secret names or ARNs, as the spec gives them; read at run time, never logged.
SOURCE_SECRET_ID = "REEF_SOURCE_SECRET_ID"  # noqa: S105 - a variable name, not a secret
DESTINATION_SECRET_ID = "REEF_DESTINATION_SECRET_ID"  # noqa: S105 - a variable name
REDSHIFT_COPY_ROLE_ARN = "REEF_REDSHIFT_COPY_ROLE_ARN"
# The dead-letter queue of the queue the function consumes (extract, load): a terminal failure
# or a malformed message is moved there at once instead of after maxReceiveCount receives.
# Without it the function reads the queue's RedrivePolicy (sqs:GetQueueAttributes).
DEAD_LETTER_QUEUE_URL = "REEF_DEAD_LETTER_QUEUE_URL"

# CloudWatch metrics: namespace, and the metric the freshness alarm watches (dimension
# "connector"): seconds from the newest loaded timelabel to now.
METRICS_NAMESPACE = "Reef"
FRESHNESS_METRIC = "FreshnessLagSeconds"

# The book-keeping table's key schema, created by the core stack and used by handlers.
BOOKKEEPING_PARTITION_KEY = "pk"  # "<connector>#<unit>": IAM scopes functions by this prefix
BOOKKEEPING_SORT_KEY = "sk"
BOOKKEEPING_TTL_ATTRIBUTE = "expires_at"
BOOKKEEPING_BATCH_INDEX = "by_batch_id"  # global secondary index, partition key "batch_id"

# Lambda handler entry points, relative to the layer's python/ folder.
SCHEDULER_HANDLER = "handlers.orchestration.scheduler.handler"
EXTRACT_HANDLER = "handlers.orchestration.extract.handler"
LOAD_HANDLER = "handlers.orchestration.load.handler"
STREAM_HANDLER = "handlers.orchestration.stream.handler"

# Where the connector stack writes the runtime config document in the staging bucket.
CONFIG_PREFIX = "reef-config"
# Where extracted files go: <STAGING_PREFIX>/<connector>/<unit>/<timelabel>/<batch>/...
STAGING_PREFIX = "batches"
# Stream records that do not fit their table, with the reason, for a person to look at:
# <QUARANTINE_PREFIX>/<connector>/<unit>/<shard>-<first>-<last>.jsonl.gz
QUARANTINE_PREFIX = "quarantine"


def config_key(connector: str) -> str:
    """The staging bucket key of a connector's runtime config document."""
    return f"{CONFIG_PREFIX}/{connector}.json"


class RuntimeConfig(BaseModel):
    """The resolved connector as its functions see it in one environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = RUNTIME_CONFIG_VERSION
    environment: str
    connector: ConnectorSpec
    schedule: str = Field(description="the schedule in force here, after overrides")
    function_timeout_seconds: int
    staging_expiry_days: int
    bookkeeping_ttl_days: int
    redshift_slices: int
