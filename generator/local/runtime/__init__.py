"""The local runtime: Lambda's pollers and schedules over the stacks deployed in the emulator."""

from generator.local.runtime.context import LambdaContext
from generator.local.runtime.invoker import Handler, Invocation
from generator.local.runtime.runtime import LocalRuntime, RunSummary

__all__ = ["Handler", "Invocation", "LambdaContext", "LocalRuntime", "RunSummary"]
