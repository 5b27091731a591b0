"""What can go wrong in the local environment: one root, split into terminal and transient."""


class LocalError(Exception):
    """Root of every error of the local environment (emulator, runtime, deploy, trigger)."""


class LocalTerminalError(LocalError):
    """Retrying will not help: something must be started, deployed or fixed first."""


class LocalTransientError(LocalError):
    """A service did not answer in time; running the command again may succeed."""


class NotStarted(LocalTerminalError):
    """`local up` has not been run, or what it started has stopped."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not running; start it with `python main.py local up`")


class NotDeployed(LocalTerminalError):
    """The emulator holds no resource that the command needs."""


class DeployFailed(LocalTerminalError):
    """`cdktf deploy` exited with an error; its own output says why."""


class ServiceTimeout(LocalTransientError):
    """A server did not come up, or a run did not become idle, within the time allowed."""
