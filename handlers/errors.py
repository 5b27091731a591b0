"""Reef's exception root for the runtime: every failure is transient (retry) or terminal (stop).

Sources and warehouses translate their driver's errors into these at one place each, so that
the handlers decide between retrying through SQS and failing the batch by type alone.
"""


class ReefError(Exception):
    """Something went wrong while moving a batch."""


class TransientError(ReefError):
    """Worth retrying as is: a dropped connection, throttling, a lock or statement timeout."""


class TerminalError(ReefError):
    """Retrying will not help until someone fixes something; the message says what."""
