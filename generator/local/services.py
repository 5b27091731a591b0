"""`local up`, `local down` and `local env`: the emulator and the throwaway PostgreSQL server."""

import os
import shutil
import socket
from pathlib import Path

from generator.environments import Environment, load_environment
from generator.local.emulator import (
    answers,
    emulator_endpoint,
    endpoint_port,
    process_alive,
    start_emulator,
    stop_emulator,
)
from generator.local.errors import NotStarted
from generator.local.postgres import PostgresServer, free_port
from generator.local.state import (
    EmulatorState,
    LocalState,
    PostgresState,
    load_state,
    local_dir,
    state_path,
)

LOCAL_ENVIRONMENT = "local"


def local_up(environment: Environment | None = None) -> tuple[LocalState, list[str]]:
    """Start what is not running yet; return the state and what was started (empty if nothing)."""
    environment = environment or load_environment(LOCAL_ENVIRONMENT)
    previous = load_state()
    started: list[str] = []

    emulator = _running_emulator(previous)
    if emulator is None:
        endpoint = emulator_endpoint(environment)
        log = local_dir() / "emulator.log"
        pid = start_emulator(endpoint, log)
        emulator = EmulatorState(
            pid=pid, endpoint=endpoint, port=endpoint_port(endpoint), log=str(log)
        )
        started.append(f"emulator at {endpoint}")

    server = _postgres_server(previous)
    if not server.is_running():
        server.start()
        started.append(f"PostgreSQL on port {server.port}")

    state = LocalState(
        region=environment.region,
        account=environment.account,
        emulator=emulator,
        postgres=PostgresState(
            pid=_postmaster_pid(server.data_dir),
            port=server.port,
            data_dir=str(server.data_dir),
            dsn=server.dsn,
        ),
    )
    state.save()
    return state, started


def local_down(purge: bool = False) -> list[str]:
    """Stop both servers; with `purge`, also delete the PostgreSQL data and the state file."""
    state = load_state()
    stopped: list[str] = []
    if state is not None:
        if process_alive(state.emulator.pid):
            stop_emulator(state.emulator.pid)
            stopped.append("emulator")
        server = PostgresServer(Path(state.postgres.data_dir), state.postgres.port)
        if server.is_running():
            server.stop()
            stopped.append("PostgreSQL")
    if purge and local_dir().exists():
        shutil.rmtree(local_dir())
        stopped.append(f"deleted {local_dir()}")
    return stopped


def running_state() -> LocalState:
    """The state of a running local environment, or NotStarted saying to run `local up`."""
    state = load_state()
    if state is None:
        raise NotStarted("the local environment")
    if not answers(state.emulator.endpoint):
        raise NotStarted(f"the emulator at {state.emulator.endpoint}")
    return state


def use_emulator(environment: Environment) -> None:
    """For the local environment, point boto3 at the running emulator with its test
    credentials, as `eval $(python main.py local env)` would; a no-op for other
    environments, when the user set AWS_ENDPOINT_URL already, or when nothing runs."""
    if environment.emulator is None or os.environ.get("AWS_ENDPOINT_URL"):
        return
    state = load_state()
    if state is not None and answers(state.emulator.endpoint):
        os.environ.update(state.aws_variables())


def export_lines(state: LocalState) -> list[str]:
    """Shell `export` lines for the emulator and the throwaway PostgreSQL server."""
    variables = {**state.aws_variables(), "REEF_LOCAL_PG_DSN": state.postgres.dsn}
    return [f"export {name}='{value}'" for name, value in variables.items()]


def _running_emulator(previous: LocalState | None) -> EmulatorState | None:
    if previous is None:
        return None
    emulator = previous.emulator
    if process_alive(emulator.pid) and answers(emulator.endpoint):
        return emulator
    return None


def _postgres_server(previous: LocalState | None) -> PostgresServer:
    data_dir = local_dir() / "postgres"
    if previous is not None and Path(previous.postgres.data_dir) == data_dir:
        server = PostgresServer(data_dir, previous.postgres.port)
        if server.is_running() or _port_free(server.port):
            return server
    return PostgresServer(data_dir, free_port())


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _postmaster_pid(data_dir: Path) -> int:
    pid_file = data_dir / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return 0


__all__ = ["export_lines", "local_down", "local_up", "running_state", "state_path"]
