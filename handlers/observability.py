"""Logs and metrics of every Reef function, through Powertools for AWS Lambda.

Logs are JSON, one object per line, and every line about a batch carries its trace context
(connector, unit, timelabel, batch id, chunk, attempt). Metrics go out as CloudWatch embedded
metric format in the Reef namespace with the connector as dimension, so they cost no API
call: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from handlers.contracts.messages import TraceContext
from handlers.contracts.runtime import FRESHNESS_METRIC, METRICS_NAMESPACE

# POWERTOOLS_SERVICE_NAME and POWERTOOLS_LOG_LEVEL, where set, override these defaults.
logger = Logger(service="reef")
# No service here: Powertools would add it as a second dimension, and the alarms watch metrics
# with the connector as their only dimension. For the same reason, functions must not set
# POWERTOOLS_SERVICE_NAME.
metrics = Metrics(namespace=METRICS_NAMESPACE)
# An invocation that only acknowledged duplicates has no metrics, and that is fine.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Metric names, so that dashboards and alarms can rely on them.
ROWS = "Rows"
BYTES = "Bytes"
CHUNKS = "Chunks"
EXTRACT_SECONDS = "ExtractSeconds"
LOAD_SECONDS = "LoadSeconds"
BATCHES_SCHEDULED = "BatchesScheduled"
BATCHES_LOADED = "BatchesLoaded"
BATCHES_FAILED = "BatchesFailed"
MALFORMED_MESSAGES = "MalformedMessages"
QUARANTINED = "QuarantinedRecords"
TIMELABELS_CLOSED = "TimelabelsClosed"
FRESHNESS = FRESHNESS_METRIC

_UNITS = {
    ROWS: MetricUnit.Count,
    BYTES: MetricUnit.Bytes,
    CHUNKS: MetricUnit.Count,
    EXTRACT_SECONDS: MetricUnit.Seconds,
    LOAD_SECONDS: MetricUnit.Seconds,
    BATCHES_SCHEDULED: MetricUnit.Count,
    BATCHES_LOADED: MetricUnit.Count,
    BATCHES_FAILED: MetricUnit.Count,
    MALFORMED_MESSAGES: MetricUnit.Count,
    QUARANTINED: MetricUnit.Count,
    TIMELABELS_CLOSED: MetricUnit.Count,
    FRESHNESS: MetricUnit.Seconds,
}


def start_invocation(connector: str) -> None:
    """Set what every metric of this invocation is dimensioned by."""
    metrics.add_dimension(name="connector", value=connector)


def count(name: str, value: float) -> None:
    """Add one data point of a Reef metric to this invocation's metrics."""
    metrics.add_metric(name=name, unit=_UNITS[name], value=value)


@contextmanager
def traced(trace: TraceContext) -> Iterator[None]:
    """Put the trace context on every log line written inside the block."""
    keys = trace.log_keys()
    logger.append_keys(**keys)
    try:
        yield
    finally:
        logger.remove_keys(list(keys))
