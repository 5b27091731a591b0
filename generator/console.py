"""How every command talks: results on stdout, logs and progress on stderr.

A person at a terminal gets rich tables and colours; a pipe or a CI log gets plain text that
`grep`, `cut` and `awk` can read; `--json` gets stable, sorted JSON. Commands only choose
what to say, through the functions here, so that all of them behave the same. Colours follow
the NO_COLOR convention (https://no-color.org), which rich honours.
"""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from generator.errors import InvalidInput

# Exit codes, documented in the README's "Exit codes" table: pipelines gate on them.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2
EXIT_CHANGES = 3  # `diff` found changes to apply; not a failure

Cell = str | int | float | None


def _stdout() -> Console:
    # made per call, so that a redirected sys.stdout (tests, pipes) is the one written to
    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_is_terminal() -> bool:
    """Whether results go to a person (rich) rather than a pipe or file (plain)."""
    return _stdout().is_terminal


def result(text: str) -> None:
    """Print one line of a command's result on stdout."""
    typer.echo(text)


def result_json(data: Any) -> None:
    """Print a command's result as JSON on stdout: sorted keys, so output is diffable."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "") -> None:
    """Print rows on stdout: a rich table on a terminal, tab-separated lines when piped."""
    if not stdout_is_terminal():
        lines = ["\t".join(columns), *("\t".join(_plain(cell) for cell in row) for row in rows)]
        typer.echo("\n".join(lines))
        return
    rich_table = Table(title=title or None, title_justify="left")
    for column in columns:
        rich_table.add_column(
            column, justify="right" if _numeric(rows, column, columns) else "left"
        )
    for row in rows:
        rich_table.add_row(*(_plain(cell) for cell in row))
    _stdout().print(rich_table)


def log(message: str) -> None:
    """Tell the user what is happening, on stderr, so stdout stays a clean result."""
    _stderr().print(message, markup=False)


def warn(message: str) -> None:
    """Something the user should act on, on stderr."""
    _emphasized("warning", "yellow", message)


def error(message: str) -> None:
    """Why a command failed, on stderr."""
    _emphasized("error", "red", message)


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Report an error and return the Exit to raise: `raise console.fail(...) from None`."""
    error(message)
    return typer.Exit(code)


def invalid(message: str) -> typer.Exit:
    """Report bad input (an argument, a name, a path) and return the Exit 2 to raise."""
    return fail(message, EXIT_INVALID_INPUT)


def invalid_input(problems: InvalidInput) -> typer.Exit:
    """Report every problem of an InvalidInput, one per line, and return the Exit 2 to raise."""
    for problem in problems.problems:
        _stderr().print(str(problem), markup=False)
    count = len(problems.problems)
    return invalid(f"{count} problem{'s' if count != 1 else ''} found")


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Any]:
    """A progress bar on stderr for long work; yields a function to call after each step.

    The bar shows only on a terminal: in a pipe or CI log it would be noise.
    """
    stderr = _stderr()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, disable=not stderr.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda steps=1: bar.advance(task, steps)


def _emphasized(label: str, colour: str, message: str) -> None:
    stderr = _stderr()
    if stderr.is_terminal:
        stderr.print(f"[bold {colour}]{label}:[/] ", end="")
        stderr.print(message, markup=False)
    else:
        stderr.print(f"{label}: {message}", markup=False)


def _plain(cell: Cell) -> str:
    return "" if cell is None else str(cell)


def _numeric(rows: Sequence[Sequence[Cell]], column: str, columns: Sequence[str]) -> bool:
    index = list(columns).index(column)
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(isinstance(value, int | float) for value in values)
