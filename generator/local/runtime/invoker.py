"""Call a deployed function's handler in this process, as Lambda would call it.

Each function gets the environment variables it is deployed with (set for the call and
restored after) and a context whose remaining time counts down from its timeout. Each
function also keeps its own copies of the handler modules, so that what one function caches
at cold start (its connector's runtime config, say) is never seen by another, as in Lambda
where every function runs in sandboxes of its own. The modules in SHARED_MODULES are the
exception: every function sees the one copy this process imported.

What a function prints (its JSON log lines and embedded metrics) is its log stream, which
Lambda sends to CloudWatch Logs; here it goes to stderr, so that a command's results on
stdout (`local run`'s report, say) stay clean for pipes.
"""

import contextlib
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from generator.local.runtime.context import LambdaContext
from generator.local.runtime.wiring import DeployedFunction
from generator.local.state import emulator_variables

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], LambdaContext], Any]

# Modules that are never copied per function. The step boundaries' hook is process-wide, like
# a signal handler: a fault test installs it once and every function must see it (in
# production it is never installed, so sharing it changes nothing a handler could observe).
SHARED_MODULES = ("handlers.orchestration.checkpoints",)


@dataclass(frozen=True)
class Invocation:
    """The outcome of one call: the handler's response, or the error Lambda would report."""

    function: str
    response: Any
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


class Invoker:
    """Calls handlers in-process; `overrides` maps a function name to a stand-in callable."""

    def __init__(
        self,
        endpoint: str | None,
        region: str,
        overrides: Mapping[str, Handler] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.overrides = dict(overrides or {})
        self._sandboxes: dict[str, dict[str, ModuleType]] = {}

    def invoke(self, function: DeployedFunction, event: dict[str, Any]) -> Invocation:
        """Call the function's handler once with `event`; never raises for handler errors."""
        context = LambdaContext(
            function_name=function.name,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory,
            timeout_seconds=function.timeout,
        )
        started = time.monotonic()
        with (
            self._function_environment(function),
            self._sandbox(function),
            contextlib.redirect_stdout(sys.stderr),
        ):
            try:
                response = self._handler(function)(event, context)
            except Exception as error:
                logger.warning("%s failed: %s: %s", function.name, type(error).__name__, error)
                return Invocation(
                    function.name,
                    None,
                    f"{type(error).__name__}: {error}",
                    time.monotonic() - started,
                )
        seconds = time.monotonic() - started
        if seconds > function.timeout:
            # Lambda stops a function at its timeout and reports the call as failed:
            # https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
            return Invocation(
                function.name, None, f"Task timed out after {function.timeout} seconds", seconds
            )
        return Invocation(function.name, response, None, seconds)

    def _handler(self, function: DeployedFunction) -> Handler:
        override = self.overrides.get(function.name)
        if override is not None:
            return override
        module_name, _, attribute = function.handler.rpartition(".")
        if not module_name:
            raise ValueError(f"handler {function.handler!r} is not module.function")
        handler: Handler = getattr(importlib.import_module(module_name), attribute)
        return handler

    @contextmanager
    def _sandbox(self, function: DeployedFunction) -> Iterator[None]:
        """The function's own copies of its handler's package in sys.modules for the call;
        the caller's copies are put back after, even when the call dies."""
        module_name = function.handler.rpartition(".")[0]
        if function.name in self.overrides or not module_name:
            yield  # an override runs as given; a malformed handler fails in _handler
            return
        package = module_name.split(".")[0]
        callers = _take_modules(package)
        sys.modules.update(self._sandboxes.pop(function.name, {}))
        try:
            yield
        finally:
            self._sandboxes[function.name] = _take_modules(package)
            sys.modules.update(callers)

    @contextmanager
    def _function_environment(self, function: DeployedFunction) -> Iterator[None]:
        # Lambda's reserved variables, then the function's own:
        # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
        variables = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "_HANDLER": function.handler,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if self.endpoint:
            variables.update(emulator_variables(self.endpoint, self.region))
        variables.update(function.environment)
        saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _take_modules(package: str) -> dict[str, ModuleType]:
    """Remove the package's modules, except the shared ones, from sys.modules; return them."""
    taken = {
        name: module
        for name, module in sys.modules.items()
        if (name == package or name.startswith(package + ".")) and name not in SHARED_MODULES
    }
    for name in taken:
        del sys.modules[name]
    return taken
