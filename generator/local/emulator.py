"""Start and stop the AWS emulator (moto server) as a detached process on 127.0.0.1."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from generator.environments import REPOSITORY, Environment
from generator.local.errors import LocalTerminalError, ServiceTimeout

ENDPOINT_VARIABLE = "REEF_EMULATOR_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
START_TIMEOUT_SECONDS = 30.0


def emulator_endpoint(environment: Environment | None = None) -> str:
    """The emulator's address: REEF_EMULATOR_ENDPOINT, else the environment's, else the default."""
    configured = environment.emulator.endpoint if environment and environment.emulator else None
    return os.environ.get(ENDPOINT_VARIABLE) or configured or DEFAULT_ENDPOINT


def endpoint_port(endpoint: str) -> int:
    port = urlsplit(endpoint).port
    if port is None:
        raise LocalTerminalError(
            f"emulator endpoint {endpoint} names no port; use http://127.0.0.1:PORT"
        )
    return port


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when an HTTP server answers at the endpoint (any status counts)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_emulator(endpoint: str, log_path: Path) -> int:
    """Start moto server detached (it outlives this command) and wait until it answers."""
    port = endpoint_port(endpoint)
    if answers(endpoint):
        raise LocalTerminalError(
            f"something else already answers at {endpoint}; stop it, or set"
            f" {ENDPOINT_VARIABLE} to another http://127.0.0.1:PORT"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "generator.local.emulator_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPOSITORY,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_until_answering(endpoint, process)
    return process.pid


def stop_emulator(pid: int) -> None:
    """Stop the emulator process started by `start_emulator`; its resources are lost."""
    if not process_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    # a child of this very process (as in tests) stays a zombie until waited for
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalTerminalError(
                f"the emulator exited at once (code {process.returncode}); see its log"
            )
        if answers(endpoint):
            return
        time.sleep(0.2)
    process.terminate()
    raise ServiceTimeout(
        f"the emulator did not answer at {endpoint} within {START_TIMEOUT_SECONDS:.0f} s"
    )
