"""A hand-made Lambda context whose remaining time the test controls."""

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fakes.source import Clock


@dataclass
class FakeContext:
    """Remaining time = timeout minus what the clock says this invocation has used."""

    timeout_ms: int = 30_000
    clock: Clock = field(default_factory=Clock)
    function_name: str = "shop-extract"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:shop-extract"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining: Callable[[], int] | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.remaining is not None:
            return self.remaining()
        return self.timeout_ms - self.clock.used_ms
