"""The messages between Reef's functions: small, versioned, validated on receipt.

Every message carries the trace context of its batch and references to S3 objects, never
rows. A batch is (connector, unit, timelabel) and its id is derived from those three, so a
repeated schedule tick names the same batch and every step can be retried by that name.

Wire format: the JSON of one model below, as the SQS body (SNS topics deliver to the queues
with raw message delivery). `kind` tells the models apart; `version` lets a newer reader
refuse a message it does not understand instead of half-processing it.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from handlers.contracts.batch import Bounds

MESSAGE_VERSION = 1

# SQS refuses bodies above 256 KiB; Reef's messages stay far below, since they carry no data.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
MAX_MESSAGE_BYTES = 256 * 1024

_TIMELABEL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_timelabel(timelabel: datetime) -> str:
    """A timelabel as it appears in messages and book-keeping: UTC, to the second."""
    return timelabel.astimezone(UTC).strftime(_TIMELABEL_FORMAT)


def parse_timelabel(text: str) -> datetime:
    """The datetime of a timelabel written by `format_timelabel`."""
    return datetime.strptime(text, _TIMELABEL_FORMAT).replace(tzinfo=UTC)


def batch_id(connector: str, unit: str, timelabel: str) -> str:
    """The id of the batch (connector, unit, timelabel): readable, sortable, deterministic."""
    digest = hashlib.sha256(f"{connector}\n{unit}\n{timelabel}".encode()).hexdigest()[:16]
    compact = timelabel.replace("-", "").replace(":", "")
    return f"{compact}-{digest}"


class MalformedMessage(ValueError):
    """A message that does not parse as the contract it claims; retrying cannot help."""


class Message(BaseModel):
    """Frozen and strict: an unknown field is an error, not something to ignore."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TraceContext(Message):
    """Where a message belongs: on every message and on every log line about it."""

    connector: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    timelabel: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    batch_id: str = Field(min_length=1)
    chunk: int = Field(0, ge=0, description="the chunk the message is about, or starts at")
    attempt: int = Field(1, ge=1, description="how many times this step has been started")

    @classmethod
    def of_batch(cls, connector: str, unit: str, timelabel: str) -> "TraceContext":
        """The trace context of a new batch."""
        return cls(
            connector=connector,
            unit=unit,
            timelabel=timelabel,
            batch_id=batch_id(connector, unit, timelabel),
        )

    def log_keys(self) -> dict[str, Any]:
        """The keys that every log line about this batch carries."""
        return self.model_dump()


class Scheduled(Message):
    """The scheduler fixed a batch's bounds: extract it."""

    version: Literal[1] = 1
    kind: Literal["scheduled"] = "scheduled"
    trace: TraceContext
    bounds: Bounds
    # Added after version 1 shipped, with a default, so earlier messages still validate.
    backfill: bool = Field(
        False, description="scheduled by `main.py backfill`: loading it leaves the watermark"
    )


class Continuation(Message):
    """Go on extracting a batch from its recorded progress (the budget ran out, or a wait)."""

    version: Literal[1] = 1
    kind: Literal["continuation"] = "continuation"
    trace: TraceContext
    reason: Literal["budget", "wait"]
    chunk_ms_estimate: int | None = Field(
        None, ge=0, description="the slowest chunk so far, for the next invocation's budget"
    )


class Extracted(Message):
    """A batch's manifest is written: load it."""

    version: Literal[1] = 1
    kind: Literal["extracted"] = "extracted"
    trace: TraceContext
    manifest_bucket: str
    manifest_key: str
    rows: int = Field(ge=0)
    files: int = Field(ge=0)
    load_state: dict[str, Any] | None = Field(
        None, description="a pending warehouse load's state (LoadPending), to check again"
    )


class Loaded(Message):
    """A batch is in the warehouse and its unit's watermark has moved."""

    version: Literal[1] = 1
    kind: Literal["loaded"] = "loaded"
    trace: TraceContext
    rows: int = Field(ge=0)
    already: bool = Field(description="the warehouse's load log had the batch before")
    watermark: str | None


class Failed(Message):
    """A batch failed for good; `error` says what to fix."""

    version: Literal[1] = 1
    kind: Literal["failed"] = "failed"
    trace: TraceContext
    stage: Literal["schedule", "extract", "load"]
    error: str


AnyMessage = Annotated[
    Scheduled | Continuation | Extracted | Loaded | Failed, Field(discriminator="kind")
]
_any_message: TypeAdapter[Scheduled | Continuation | Extracted | Loaded | Failed] = TypeAdapter(
    AnyMessage
)


def parse_message(
    body: str, accepted: tuple[type[Message], ...]
) -> Scheduled | Continuation | Extracted | Loaded | Failed:
    """The message in an SQS body, or MalformedMessage saying what is wrong with it.

    A body that is an SNS notification envelope (a subscription without raw message
    delivery) is unwrapped first, so a wiring slip does not dead-letter every message.
    """
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedMessage(f"the body is not JSON ({error.msg} at {error.pos})") from None
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return parse_message(str(document.get("Message", "")), accepted)
    if isinstance(document, dict) and document.get("version") not in (None, MESSAGE_VERSION):
        raise MalformedMessage(
            f"message version {document.get('version')!r} is not {MESSAGE_VERSION};"
            " deploy the Reef version that sent it to every function of the connector"
        )
    try:
        message = _any_message.validate_python(document)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}"
            for error in invalid.errors(include_input=False)
        )
        raise MalformedMessage(f"the message does not validate: {problems}") from None
    if not isinstance(message, accepted):
        expected = ", ".join(sorted(model.model_fields["kind"].default for model in accepted))
        raise MalformedMessage(
            f"a {message.kind!r} message reached a function that takes {expected};"
            " check the connector's topic subscriptions"
        )
    return message


def encode(message: Message) -> str:
    """The wire form of a message: compact JSON, checked against the SQS size limit."""
    body = message.model_dump_json()
    if len(body.encode()) > MAX_MESSAGE_BYTES:
        raise ValueError(f"a {type(message).__name__} message of {len(body)} bytes is too big")
    return body
