"""The org's daily API budget: how much of it the connector may spend before it pauses.

Salesforce counts every REST and Bulk API request against a rolling 24-hour allocation and
reports the count on each response (Sforce-Limit-Info: api-usage=used/allowed) and in the
limits resource (DailyApiRequests).
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm
"""

from handlers.sources.salesforce.client import Client, Usage
from handlers.sources.salesforce.errors import ApiLimitReached

# A paused batch checks again after SQS's longest message delay; the 24-hour window frees
# requests gradually, so a short wait would only spend calls on checking.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-timers.html
PAUSE_SECONDS = 900


def usage(client: Client) -> Usage:
    """The last usage Salesforce reported, asking the limits resource only if none was seen."""
    if client.usage is None:
        daily = client.limits().get("DailyApiRequests", {})
        allowed = int(daily.get("Max", 0))
        client.usage = Usage(used=allowed - int(daily.get("Remaining", 0)), allowed=allowed)
    return client.usage


def check(client: Client, percent: int) -> None:
    """Raise ApiLimitReached when the org has used `percent` or more of its daily requests."""
    current = usage(client)
    if current.percent() >= percent:
        raise ApiLimitReached(
            f"the org has used {current.used} of {current.allowed} daily API requests,"
            f" at or above the connector's api_budget_percent of {percent}"
        )
