"""What a function reads once per cold start: its environment, the runtime config, secrets.

The runtime config document (the resolved connector spec and its settings) lies at
s3://$REEF_CONFIG_BUCKET/$REEF_CONFIG_KEY; secrets are read from Secrets Manager by the id in
the environment. Both are cached for the life of the execution environment, as Lambda
reuses it between invocations:
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

import json
import os
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from handlers.contracts import runtime
from handlers.contracts.runtime import RuntimeConfig
from handlers.errors import TerminalError, TransientError

# Error codes of AWS calls that pass on their own; anything else is a setup problem.
_TRANSIENT_AWS_CODES = {
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "TransactionConflictException",
}


def environment_variable(name: str) -> str:
    """A variable the function's stack must set; its absence is a deployment error."""
    value = os.environ.get(name)
    if not value:
        raise TerminalError(
            f"environment variable {name} is not set; redeploy the connector's stack"
        )
    return value


def aws_error(error: Exception, doing: str) -> TransientError | TerminalError:
    """The Reef error for a boto3 error: throttling and outages retry, the rest is terminal."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = f"{doing}: {code}: {error.response.get('Error', {}).get('Message', '')}"
        if code in _TRANSIENT_AWS_CODES:
            return TransientError(message)
        return TerminalError(message)
    if isinstance(error, BotoCoreError):
        return TransientError(f"{doing}: {error}")
    return TransientError(f"{doing}: {type(error).__name__}: {error}")


@cache
def client(service: str) -> Any:
    """One boto3 client per service and execution environment."""
    return boto3.client(service)  # type: ignore[call-overload]


@cache
def runtime_config() -> RuntimeConfig:
    """The connector's runtime config document, read once per cold start."""
    bucket = environment_variable(runtime.CONFIG_BUCKET)
    key = environment_variable(runtime.CONFIG_KEY)
    where = f"s3://{bucket}/{key}"
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"reading the runtime config {where}") from error
    try:
        return RuntimeConfig.model_validate_json(body)
    except ValidationError as invalid:
        first = invalid.errors(include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TerminalError(
            f"the runtime config {where} is invalid at {field}: {first['msg']};"
            " redeploy the connector's stack with this Reef version"
        ) from None


@cache
def secret(secret_id: str) -> dict[str, Any]:
    """The JSON of a Secrets Manager secret, cached; never logged."""
    try:
        value = client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as error:
        raise aws_error(error, f"reading secret {secret_id}") from error
    try:
        document = json.loads(value.get("SecretString") or "")
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise TerminalError(
            f"secret {secret_id} is not a JSON object; store the credential JSON in it"
        )
    return document


def secret_from_environment(name: str) -> dict[str, Any] | None:
    """The secret whose id is in environment variable `name`, None where it is not set."""
    secret_id = os.environ.get(name)
    return secret(secret_id) if secret_id else None


def reset() -> None:
    """Forget cached clients, config and secrets (a new cold start); for tests."""
    client.cache_clear()
    runtime_config.cache_clear()
    secret.cache_clear()
