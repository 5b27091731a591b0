"""Fixtures of the local runtime tests: a moto server of their own, and a runtime factory."""

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import boto3
import pytest

from generator.local.runtime import Handler, LocalRuntime

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def aws(emulator_endpoint: str) -> Callable[[str], object]:
    """A boto3 client factory for the test emulator."""
    session = boto3.Session(region_name=REGION)
    return lambda service: session.client(service, endpoint_url=emulator_endpoint)  # type: ignore[no-any-return]


@pytest.fixture
def runtime_for(emulator_endpoint: str) -> Callable[[Mapping[str, Handler]], LocalRuntime]:
    """A local runtime over the test emulator whose handlers are the given test callables."""

    def build(handlers: Mapping[str, Handler]) -> LocalRuntime:
        runtime = LocalRuntime(
            emulator_endpoint,
            REGION,
            ACCOUNT,
            handlers=handlers,
            retry_delay_seconds=0,
            only_functions=handlers.keys(),
        )
        runtime.refresh()
        return runtime

    return build


def load_event(name: str) -> dict[str, object]:
    """A sample event stored under tests/samples/local."""
    path = Path(__file__).resolve().parents[2] / "samples" / "local" / name
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded
