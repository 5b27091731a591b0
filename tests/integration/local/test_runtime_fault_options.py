"""What fault tests need from the local runtime: a shared checkpoints hook, sandboxes that
survive a dying call, every message delivered twice, and dead runtimes' messages coming back."""

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from generator.local.runtime import LambdaContext, LocalRuntime, invoker
from generator.local.runtime.invoker import Invoker
from generator.local.runtime.wiring import DeployedFunction
from handlers.orchestration import checkpoints, scheduler
from tests.integration.local.conftest import ACCOUNT, REGION
from tests.integration.local.hand_wired import wire_flow

PROBE = """
from reef_probe import hook, counter

def handler(event, context):
    counter.calls += 1
    hook.seen.append((context.function_name, counter.calls))
    if event.get("die"):
        raise SystemExit("the invocation died")
    return counter.calls
"""


class Died(BaseException):
    """The runtime died in the middle of a call."""


def deployed(name: str, handler: str) -> DeployedFunction:
    return DeployedFunction(
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        handler=handler,
        role=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        timeout=30,
        memory=128,
        environment={},
        layers=(),
    )


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A package with a per-function counter and a process-wide `hook` module."""
    package = tmp_path / "reef_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hook.py").write_text("seen = []\n")
    (package / "counter.py").write_text("calls = 0\n")
    (package / "app.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(invoker, "SHARED_MODULES", (*invoker.SHARED_MODULES, "reef_probe.hook"))
    import reef_probe.hook  # type: ignore[import-not-found]

    yield reef_probe.hook
    for name in [n for n in sys.modules if n == "reef_probe" or n.startswith("reef_probe.")]:
        del sys.modules[name]


def test_each_function_keeps_its_own_modules_but_shares_the_hook_module(probe: Any) -> None:
    calls = Invoker(None, REGION)
    first, second = (
        deployed("f-one", "reef_probe.app.handler"),
        deployed("f-two", "reef_probe.app.handler"),
    )

    results = [calls.invoke(f, {}).response for f in (first, second, first, first, second)]

    assert results == [1, 1, 2, 3, 2]  # each function counts its own calls: its own modules
    assert probe.seen == [("f-one", 1), ("f-two", 1), ("f-one", 2), ("f-one", 3), ("f-two", 2)]
    assert sys.modules["reef_probe.hook"] is probe


def test_a_call_that_dies_gives_the_caller_its_own_modules_back(probe: Any) -> None:
    import reef_probe.counter  # type: ignore[import-not-found]

    calls = Invoker(None, REGION)
    function = deployed("f-dies", "reef_probe.app.handler")

    with pytest.raises(SystemExit):
        calls.invoke(function, {"die": True})

    assert sys.modules["reef_probe.counter"] is reef_probe.counter
    assert reef_probe.counter.calls == 0  # the dying call counted in its sandbox, not here
    assert calls.invoke(function, {}).response == 2  # and its sandbox lives on


def test_the_checkpoints_hook_is_shared_by_the_handlers_in_every_sandbox() -> None:
    calls = Invoker(None, REGION)
    function = deployed("shop-scheduler", "handlers.orchestration.scheduler.handler")

    calls.invoke(function, {})  # fails without its deployment; it only needs to import

    sandboxed = calls._sandboxes["shop-scheduler"]["handlers.orchestration.scheduler"]
    assert sandboxed is not scheduler
    assert sandboxed.checkpoints is checkpoints
    assert sys.modules["handlers.orchestration.scheduler"] is scheduler


@pytest.mark.slow
def test_duplicate_deliveries_deliver_every_message_exactly_twice(aws: Any) -> None:
    flow = wire_flow(aws, f"t{uuid.uuid4().hex[:8]}")
    for body in ["one", "two", "three"]:
        aws("sqs").send_message(QueueUrl=flow.extract_queue_url, MessageBody=body)
    delivered: list[str] = []

    def extract(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        delivered.extend(record["body"] for record in event["Records"])
        return {"batchItemFailures": []}

    runtime = runtime_over(aws, flow.extract_function, extract, duplicate_deliveries=True)
    runtime.run_until_idle(timeout_seconds=30)

    assert sorted(delivered) == ["one", "one", "three", "three", "two", "two"]


@pytest.mark.slow
def test_the_messages_of_a_runtime_that_died_come_back_after_the_visibility_timeout(
    aws: Any,
) -> None:
    flow = wire_flow(aws, f"t{uuid.uuid4().hex[:8]}")
    aws("sqs").send_message(QueueUrl=flow.extract_queue_url, MessageBody="work")
    calls: list[float] = []

    def extract(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise Died
        return {"batchItemFailures": []}

    with pytest.raises(Died):
        runtime_over(
            aws, flow.extract_function, extract, visibility_timeout_seconds=1
        ).run_until_idle(30)
    runtime_over(aws, flow.extract_function, extract).run_until_idle(timeout_seconds=30)

    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.9  # not before the visibility timeout ran out


def runtime_over(aws: Any, function: str, handler: Any, **options: Any) -> LocalRuntime:
    endpoint = aws("sqs").meta.endpoint_url
    runtime = LocalRuntime(
        endpoint,
        REGION,
        ACCOUNT,
        handlers={function: handler},
        only_functions=[function],
        retry_delay_seconds=0,
        **options,
    )
    runtime.refresh()
    return runtime


def test_what_a_function_prints_goes_to_stderr_not_to_the_commands_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def prints(event: dict[str, Any], context: Any) -> str:
        print('{"level":"INFO","message":"a log line of the function"}')
        return "answer"

    invocation = Invoker(None, REGION, {"printer": prints}).invoke(
        deployed("printer", "reef_printer.handler"), {}
    )

    captured = capsys.readouterr()
    assert invocation.response == "answer"
    assert "a log line of the function" in captured.err
    assert captured.out == ""
