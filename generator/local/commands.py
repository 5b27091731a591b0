"""The `local` sub-commands: `up`, `down`, `env` and `run`."""

import logging
from typing import Annotated

import typer

from generator import console
from generator.errors import InvalidInput
from generator.local.errors import LocalError
from generator.local.postgres import PostgresUnavailable
from generator.local.runtime import LocalRuntime
from generator.local.runtime.runtime import summary_counts
from generator.local.services import export_lines, local_down, local_up, running_state
from generator.local.state import local_dir

DEFAULT_IDLE_TIMEOUT_SECONDS = 300.0

local_app = typer.Typer(
    help="The local environment: an AWS emulator and a PostgreSQL server on this machine.",
    no_args_is_help=True,
)


@local_app.command("up")
def up() -> None:
    """Start the emulator and the throwaway PostgreSQL server (running ones are kept)."""
    try:
        state, started = local_up()
    except InvalidInput as invalid:
        raise console.invalid_input(invalid) from None
    except (LocalError, PostgresUnavailable) as error:
        raise console.fail(str(error)) from None
    for what in started:
        console.log(f"started {what}")
    if not started:
        console.log("both were already running")
    console.result(f"emulator    {state.emulator.endpoint}")
    console.result(f"postgresql  {state.postgres.dsn}")
    console.log('run `eval "$(python main.py local env)"` to reach them from this shell')


@local_app.command("down")
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="also delete the PostgreSQL data under .reef/local")
    ] = False,
) -> None:
    """Stop the emulator (its resources are lost) and PostgreSQL (its data is kept)."""
    stopped = local_down(purge=purge)
    console.result(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local_app.command("env")
def env() -> None:
    """Print `export` lines for the emulator and PostgreSQL: eval "$(python main.py local env)"."""
    try:
        state = running_state()
    except LocalError as error:
        raise console.fail(str(error)) from None
    for line in export_lines(state):
        console.result(line)


@local_app.command("run")
def run(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="return once no queue or stream holds work")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="give up after this many seconds")
    ] = None,
    retry_delay: Annotated[
        int, typer.Option("--retry-delay", help="seconds before a failed message returns")
    ] = 1,
) -> None:
    """Poll the deployed queues and streams and call the handlers, as Lambda would."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        state = running_state()
        runtime = LocalRuntime(
            state.emulator.endpoint,
            state.region,
            state.account,
            retry_delay_seconds=retry_delay,
            checkpoint_path=local_dir() / "kinesis-checkpoints.json",
        )
        runtime.refresh()
        dead_before = runtime.dead_letter_counts()
    except LocalError as error:
        raise console.fail(str(error)) from None
    try:
        summary = (
            runtime.run_until_idle(timeout or DEFAULT_IDLE_TIMEOUT_SECONDS)
            if until_idle
            else runtime.run_forever(timeout)
        )
    except LocalError as error:
        raise console.fail(str(error)) from None
    except KeyboardInterrupt:
        summary = runtime.summary
    dead_letters = {
        name: count - dead_before.get(name, 0)
        for name, count in runtime.dead_letter_counts().items()
        if count > dead_before.get(name, 0)
    }
    report = {**summary_counts(summary), "dead_lettered": dead_letters}
    console.result_json(report)
    # a failed call that a retry then fixed is not a failure of the run; a dead letter is
    if dead_letters or summary.discarded_records:
        raise typer.Exit(console.EXIT_FAILURE)
