"""A connector deployed into moto with the fake source and warehouse, and a driver for it."""

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from handlers.contracts import runtime
from handlers.orchestration import extract, load, scheduler
from tests.fakes.driver import Driver, scheduled_event, sqs_event
from tests.fakes.flow import Flow, deploy_flow, undeploy_flow
from tests.fakes.lambda_context import FakeContext


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    """An append-mode flow from the fake source to the fake warehouse."""
    # a batch waiting for its unit's turn comes back at once instead of after 30 s
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    with mock_aws():
        yield deploy_flow(monkeypatch)
        undeploy_flow()


@pytest.fixture
def overlapping_flow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    """A flow whose spec allows a unit's next batch while the previous one is in flight."""
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    with mock_aws():
        yield deploy_flow(monkeypatch, allow_overlap=True)
        undeploy_flow()


@pytest.fixture
def driver(flow: Flow) -> Iterator[Driver]:
    running = Driver(flow)
    yield running
    running.close()


def take(flow: Flow, queue: str, limit: int = 10) -> list[dict[str, Any]]:
    """Receive up to `limit` visible messages of the extract or load queue, as a poller would."""
    variable = runtime.EXTRACT_QUEUE_URL if queue == "extract" else runtime.LOAD_QUEUE_URL
    answer = flow.sqs.receive_message(
        QueueUrl=flow.queue(variable),
        MaxNumberOfMessages=limit,
        VisibilityTimeout=60,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(answer.get("Messages", []))


def invoke(
    flow: Flow, queue: str, messages: list[dict[str, Any]], context: FakeContext | None = None
) -> dict[str, Any]:
    """Invoke the extract or load handler with these messages; its partial batch response."""
    handler = extract.handler if queue == "extract" else load.handler
    event = sqs_event(messages, flow.queue_arns[queue])
    os.environ[runtime.DEAD_LETTER_QUEUE_URL] = flow.dead_letter_queues[queue]
    try:
        return handler(event, context or FakeContext())  # type: ignore[no-any-return]
    finally:
        os.environ.pop(runtime.DEAD_LETTER_QUEUE_URL, None)


def tick(time: str = "2024-05-01T10:07:13Z") -> dict[str, Any]:
    return scheduler.handler(scheduled_event(time), FakeContext())  # type: ignore[no-any-return]


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in messages]
