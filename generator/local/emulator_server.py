"""moto in server mode, as the local environment runs it.

moto invokes a function by itself when a message reaches a queue, or a record a stream, that
has an event source mapping: it receives the messages (counting a receive), runs the
function in Docker, and returns them to the queue when that fails. In the local environment
the local runtime is Lambda's poller, so moto must leave mapped queues and streams alone;
this entry point turns moto's own delivery off. It also keeps moto from applying bucket policy
conditions it cannot evaluate (below), and otherwise runs moto's server unchanged.
"""

import json
import sys
from typing import Any

from moto import server
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.kinesis.models import Stream
from moto.s3.models import FakeBucket
from moto.sqs.models import Queue


class _NoPushDelivery:
    """A class attribute that reads as an empty mapping and ignores writes.

    moto keeps each queue's and stream's mappings in `lambda_event_source_mappings` and pushes
    new messages to them; with an always-empty mapping, nothing is pushed. The mappings
    themselves stay in moto's Lambda backend, where the local runtime reads them.
    """

    def __get__(self, instance: object, owner: type | None = None) -> dict[str, Any]:
        return {}

    def __set__(self, instance: object, value: object) -> None:
        return None


def disable_push_delivery() -> None:
    """Stop moto from invoking functions for mapped queues and streams."""
    Queue.lambda_event_source_mappings = _NoPushDelivery()  # type: ignore[assignment]
    Stream.lambda_event_source_mappings = _NoPushDelivery()  # type: ignore[assignment]


def _bucket_permission(bucket: FakeBucket, action: str, resource: str) -> Any:
    # moto applies a bucket policy's statements without evaluating their conditions, so the
    # stacks' "deny unless aws:SecureTransport" statement would deny every request over the
    # emulator's plain HTTP. Conditional statements are left out: the emulator stands in for
    # AWS's TLS endpoints and enforces no access policy anyway.
    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(bucket.policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements if "Condition" not in s]
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


def ignore_policy_conditions() -> None:
    """Evaluate bucket policies without their conditional statements (see above)."""
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> None:
    """Run moto's server with moto's own push delivery turned off; same arguments as moto_server."""
    disable_push_delivery()
    ignore_policy_conditions()
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
