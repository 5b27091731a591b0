"""The step boundaries of the runtime, named, in one place.

Each name marks a point between two effects (an S3 write and a book-keeping write, say)
where a real invocation can die. In production `reached` does nothing. The reliability tests
install a hook that raises at one boundary after another, to prove that a flow recovers from
a death at each of them; the local runtime's fault tests can install the same hook.
"""

from collections.abc import Callable

SCHEDULER_BATCH_RECORDED = "scheduler: batch recorded, scheduled not yet published"
SCHEDULER_PUBLISHED = "scheduler: scheduled published"
EXTRACT_STARTED = "extract: batch marked EXTRACTING"
EXTRACT_CHUNK_WRITTEN = "extract: chunk file written, not yet recorded"
EXTRACT_CHUNK_RECORDED = "extract: chunk recorded"
EXTRACT_CONTINUATION_SENT = "extract: continuation sent, message not yet acknowledged"
EXTRACT_MANIFEST_WRITTEN = "extract: manifest written, batch not yet EXTRACTED"
EXTRACT_MARKED_EXTRACTED = "extract: batch EXTRACTED, extracted not yet published"
EXTRACT_PUBLISHED = "extract: extracted published, message not yet acknowledged"
LOAD_STARTED = "load: lease taken and batch LOADING"
LOAD_COMMITTED = "load: warehouse committed, book-keeping not yet updated"
LOAD_WATERMARK_ADVANCED = "load: watermark advanced, batch not yet LOADED"
LOAD_MARKED_LOADED = "load: batch LOADED, lease not yet released"
LOAD_PUBLISHED = "load: loaded published, message not yet acknowledged"

ALL = (
    SCHEDULER_BATCH_RECORDED,
    SCHEDULER_PUBLISHED,
    EXTRACT_STARTED,
    EXTRACT_CHUNK_WRITTEN,
    EXTRACT_CHUNK_RECORDED,
    EXTRACT_CONTINUATION_SENT,
    EXTRACT_MANIFEST_WRITTEN,
    EXTRACT_MARKED_EXTRACTED,
    EXTRACT_PUBLISHED,
    LOAD_STARTED,
    LOAD_COMMITTED,
    LOAD_WATERMARK_ADVANCED,
    LOAD_MARKED_LOADED,
    LOAD_PUBLISHED,
)

Hook = Callable[[str], None]
_hook: Hook | None = None


def reached(boundary: str) -> None:
    """Mark that the runtime is at `boundary`; calls the installed hook, if any."""
    if _hook is not None:
        _hook(boundary)


def install(hook: Hook | None) -> None:
    """Install (or with None remove) the hook that `reached` calls; for fault tests."""
    global _hook  # noqa: PLW0603 - one process-wide hook, like a signal handler
    _hook = hook
