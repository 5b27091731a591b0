"""What the local-runtime tests read and change in the stacks deployed into the test emulator:
a connector's functions and their environment, the secrets they read, and the runtime config
document they load at cold start. Each change is undone when its block ends, because every
test of the session shares the one deployment."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from generator.local.runtime.wiring import DeployedFunction, Wiring, read_wiring
from handlers.contracts import runtime as contract
from handlers.contracts.runtime import RuntimeConfig
from handlers.contracts.spec import ConnectorSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, and the local environment's


@dataclass(frozen=True)
class DeployedConnector:
    """One connector as deployed: its functions, and their variables merged in one map."""

    endpoint: str
    wiring: Wiring
    functions: dict[str, DeployedFunction]
    environment: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.Session(region_name=REGION).client(service, endpoint_url=self.endpoint)


def deployed_connector(endpoint: str, connector: str) -> DeployedConnector:
    """Read the connector's deployed functions from the emulator."""
    wiring = read_wiring(boto3.Session(region_name=REGION), endpoint)
    functions = {
        function.name: function
        for function in wiring.functions.values()
        if function.environment.get(contract.CONNECTOR) == connector
    }
    environment: dict[str, str] = {}
    for function in functions.values():
        environment.update(function.environment)
    return DeployedConnector(endpoint, wiring, functions, environment)


@contextmanager
def secrets_pointing_at(secrets: Any, documents: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Give the named secrets these JSON documents; put back what they held when done."""
    before: dict[str, str | None] = {}
    for name, document in documents.items():
        value = json.dumps(document)
        try:
            before[name] = secrets.get_secret_value(SecretId=name)["SecretString"]
            secrets.put_secret_value(SecretId=name, SecretString=value)
        except secrets.exceptions.ResourceNotFoundException:
            before[name] = None
            secrets.create_secret(Name=name, SecretString=value)
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            else:
                secrets.put_secret_value(SecretId=name, SecretString=old)


@contextmanager
def spec_changed(
    connector: DeployedConnector, change: Callable[[ConnectorSpec], ConnectorSpec]
) -> Iterator[None]:
    """Rewrite the connector's runtime config document with `change(spec)`, as a deploy of the
    changed spec would; the document that was there comes back when the block ends.

    Functions read the document once per cold start, so the change reaches a runtime
    created inside the block."""
    s3 = connector.client("s3")
    where = {
        "Bucket": connector.environment[contract.CONFIG_BUCKET],
        "Key": connector.environment[contract.CONFIG_KEY],
    }
    before = s3.get_object(**where)["Body"].read()
    config = RuntimeConfig.model_validate_json(before)
    changed = config.model_copy(update={"connector": change(config.connector)})
    s3.put_object(**where, Body=changed.model_dump_json(by_alias=True).encode())
    try:
        yield
    finally:
        s3.put_object(**where, Body=before)
