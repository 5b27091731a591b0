"""Reef's command line, and the cdktf app that `cdktf synth` and `cdktf deploy` run.

cdktf runs this file with no arguments (see cdktf.json); it then synthesizes the stacks of
the environment named by REEF_ENV. With arguments, it is the `reef` command line.
"""

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from generator.errors import InvalidInput
from generator.schema import connector_schema
from generator.specs import load_specs

# Exit codes, documented in the README: scripts and pipelines gate on them.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2

app = typer.Typer(
    name="reef",
    help="Move data from operational systems into a warehouse on AWS Lambda.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail_on_invalid_input(invalid: InvalidInput) -> typer.Exit:
    """Print every problem, one per line, and exit 2: bad input never shows a traceback."""
    for problem in invalid.problems:
        typer.echo(str(problem), err=True)
    count = len(invalid.problems)
    typer.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
    return typer.Exit(EXIT_INVALID_INPUT)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="spec files or folders; default: the connectors folder"),
    ] = None,
) -> None:
    """Check connector specs and report every problem as file:line: field: message."""
    try:
        specs = load_specs(paths)
    except InvalidInput as invalid:
        raise fail_on_invalid_input(invalid) from None
    typer.echo(f"{len(specs)} connector spec{'s' if len(specs) != 1 else ''} valid")


@app.command()
def schema() -> None:
    """Print the JSON Schema of connector specs (the committed copy is schema/)."""
    typer.echo(json.dumps(connector_schema(), indent=2, sort_keys=True))


def cdktf_app() -> None:
    """What `cdktf synth` runs: the stacks of the environment in REEF_ENV (default local)."""
    from generator.app import synthesize

    try:
        synthesize(os.environ.get("REEF_ENV", "local"))
    except InvalidInput as invalid:
        raise SystemExit(fail_on_invalid_input(invalid).exit_code) from None


if __name__ == "__main__":
    if len(sys.argv) == 1 and os.environ.get("CDKTF_OUTDIR"):
        cdktf_app()
    else:
        app()
