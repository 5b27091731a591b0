"""The context object Lambda passes to a handler, with a remaining time that counts down."""

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """What a Python handler's `context` offers, as documented for the Lambda Python runtime.

    https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
    """

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout; never below zero."""
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))

    @property
    def timed_out(self) -> bool:
        return self.get_remaining_time_in_millis() == 0
