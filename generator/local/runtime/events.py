"""The event EventBridge sends a function when a schedule rule fires."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def scheduled_event(
    rule_arn: str, region: str, account: str, time: datetime | None = None
) -> dict[str, Any]:
    """A "Scheduled Event" for `rule_arn` at `time` (default now), as EventBridge sends it.

    https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-scheduler.html
    """
    moment = (time or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def target_event(constant_input: str | None, event: dict[str, Any]) -> dict[str, Any]:
    """What a target receives: its constant Input when the target sets one, else the event."""
    if constant_input is None:
        return event
    parsed: dict[str, Any] = json.loads(constant_input)
    return parsed
