"""Kill the local runtime at each step boundary of a real flow; after a cold start with every
message delivered twice, the warehouse must hold each source row exactly once.

The billing-replica connector runs through the stacks deployed in the test emulator, with
real PostgreSQL source and warehouse databases. Per scenario: reset the flow, fire the
schedule, run the local runtime until a hook kills it at one step boundary (an exception no
handler or poller catches: the runtime died, its in-flight messages come back after the
visibility timeout), start a fresh runtime (every function cold) that delivers every message
twice, run it until idle, change the source, fire the next tick, run until idle, and compare
the warehouse with the source row by row.

Kills land at the first place each distinct boundary is reached in an undisturbed first tick
(checkpoints.ALL, once each), not at every boundary in turn: every boundary in turn is about
three times as many scenarios, which is more than this suite's time allows on the deployed
stacks; tests/unit/orchestration/test_reliability.py kills at every boundary in turn with the
in-process driver. A boundary the deployed flow never reaches (a continuation, which needs an
invocation near its timeout) is reported, not killed at.
"""

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from generator.local.postgres import PostgresServer
from generator.local.runtime import LocalRuntime
from handlers.orchestration import checkpoints
from tests.integration.local.billing_flow import CONNECTOR, BillingFlow, billing_flow
from tests.integration.local.deployed import ACCOUNT, REGION

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

TICKS = (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
# how long a dead runtime's messages stay invisible before they come back (on AWS, the
# queue's visibility timeout, six times the function's timeout)
VISIBILITY_SECONDS = 2
IDLE_TIMEOUT_SECONDS = 120


class Died(BaseException):
    """The runtime died at a step boundary (a timeout, an out-of-memory kill, a lost host)."""


class Boundaries:
    """The process-wide checkpoints hook: records every boundary, dies at the chosen one."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.kill_at: str | None = None
        self.killed: str | None = None

    def __call__(self, boundary: str) -> None:
        self.seen.append(boundary)
        if boundary == self.kill_at and self.killed is None:
            self.killed = boundary
            raise Died(boundary)


@pytest.fixture
def flow(local_deployment: Any, postgres_server: PostgresServer) -> Iterator[BillingFlow]:
    with billing_flow(local_deployment.endpoint, postgres_server) as opened:
        yield opened


@pytest.fixture
def boundaries() -> Iterator[Boundaries]:
    hook = Boundaries()
    checkpoints.install(hook)
    yield hook
    checkpoints.install(None)


def fresh_runtime(flow: BillingFlow, duplicates: bool) -> LocalRuntime:
    """A new runtime: new sandboxes, so every function starts cold."""
    runtime = LocalRuntime(
        flow.endpoint,
        REGION,
        ACCOUNT,
        retry_delay_seconds=0,
        only_functions=flow.functions,
        duplicate_deliveries=duplicates,
        visibility_timeout_seconds=VISIBILITY_SECONDS,
    )
    runtime.refresh()
    return runtime


def first_tick(flow: BillingFlow) -> str | None:
    """Fire the first tick and run until idle; the boundary where the runtime died, if it did."""
    runtime = fresh_runtime(flow, duplicates=False)
    try:
        invocation = runtime.trigger(CONNECTOR, TICKS[0])
        assert invocation.ok, invocation.error
        runtime.run_until_idle(IDLE_TIMEOUT_SECONDS)
    except Died as died:
        return str(died)
    return None


def recover_and_go_on(flow: BillingFlow, died_in_scheduler: bool) -> None:
    """Cold start with every message twice; the second tick after source changes."""
    runtime = fresh_runtime(flow, duplicates=True)
    if died_in_scheduler:
        # EventBridge invokes the scheduler asynchronously; Lambda retries a failed call with
        # the same event: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
        assert runtime.trigger(CONNECTOR, TICKS[0]).ok
    runtime.run_until_idle(IDLE_TIMEOUT_SECONDS)
    flow.change_source()
    invocation = runtime.trigger(CONNECTOR, TICKS[1])
    assert invocation.ok, invocation.error
    runtime.run_until_idle(IDLE_TIMEOUT_SECONDS)


def test_every_row_arrives_once_wherever_the_runtime_dies_with_every_message_twice(
    flow: BillingFlow, boundaries: Boundaries
) -> None:
    started = time.monotonic()
    flow.reset()
    assert first_tick(flow) is None
    assert flow.differences() == []
    order = list(dict.fromkeys(boundaries.seen))  # each distinct boundary, in first-seen order
    never_reached = [name for name in checkpoints.ALL if name not in order]
    baseline_seconds = time.monotonic() - started

    outcomes: dict[str, list[str]] = {}
    for boundary in order:
        scenario_started = time.monotonic()
        flow.reset()
        boundaries.kill_at, boundaries.killed = boundary, None
        died_at = first_tick(flow)
        boundaries.kill_at = None
        recover_and_go_on(flow, died_in_scheduler=bool(died_at and died_at.startswith("scheduler")))
        problems = flow.differences()
        if died_at != boundary:
            problems.append(f"the runtime did not die here (it died at {died_at})")
        if flow.dead_lettered():
            problems.append(f"{flow.dead_lettered()} message(s) dead-lettered")
        outcomes[boundary] = problems
        print(
            f"  {boundary}: {time.monotonic() - scenario_started:.1f} s,"
            f" {'; '.join(problems) or 'ok'}",
            file=sys.stderr,
        )

    seconds = time.monotonic() - started
    print(
        f"\nreliability on the local runtime: {len(outcomes)} scenarios (one kill at each"
        f" distinct step boundary) in {seconds:.0f} s (undisturbed run {baseline_seconds:.0f} s);"
        f" never reached: {never_reached or 'none'}",
        file=sys.stderr,
    )
    assert {boundary: problems for boundary, problems in outcomes.items() if problems} == {}
    assert len(outcomes) == len(checkpoints.ALL) - len(never_reached)
    assert never_reached == [checkpoints.EXTRACT_CONTINUATION_SENT]
