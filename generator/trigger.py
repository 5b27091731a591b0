"""`trigger`: fire a connector's schedule now, in a deployed environment, as EventBridge would."""

import json
from datetime import datetime

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from generator.environments import Environment
from generator.local.errors import LocalTerminalError
from generator.local.runtime.events import scheduled_event, target_event
from generator.local.runtime.runtime import find_schedule
from generator.local.runtime.wiring import read_wiring


class TriggerFailed(LocalTerminalError):
    """The scheduler function returned an error."""


def trigger_remotely(environment: Environment, connector: str, time: datetime | None) -> str:
    """Invoke the connector's scheduler in AWS with its rule's event; return the request id."""
    session = boto3.Session(region_name=environment.region)
    try:
        rule_arn, function, constant_input = find_schedule(read_wiring(session, None), connector)
        event = scheduled_event(rule_arn, environment.region, environment.account, time)
        response = session.client("lambda").invoke(
            FunctionName=function.arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(target_event(constant_input, event)).encode(),
        )
    except (ClientError, BotoCoreError) as error:
        raise TriggerFailed(
            f"could not fire {connector}'s schedule in {environment.name}"
            f" ({environment.account}, {environment.region}): {error}; check the AWS"
            " credentials boto3 finds and that they may read the deployed functions and rules"
            " and invoke the scheduler"
        ) from error
    if response.get("FunctionError"):
        raise TriggerFailed(
            f"{function.name} failed: {response['Payload'].read().decode(errors='replace')[:500]}"
        )
    request_id: str = response["ResponseMetadata"]["RequestId"]
    return request_id
