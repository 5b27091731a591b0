"""Output conventions: results on stdout, messages on stderr, plain text and sorted JSON."""

import json

import pytest

from generator import console


def test_json_results_are_sorted_and_indented(capsys: pytest.CaptureFixture[str]) -> None:
    console.result_json({"b": 1, "a": {"d": 2, "c": 3}})

    out = capsys.readouterr().out
    assert out == json.dumps({"a": {"c": 3, "d": 2}, "b": 1}, indent=2) + "\n"


def test_a_table_is_tab_separated_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    console.table(["name", "rows"], [["orders", 10], ["customers", None]])

    assert capsys.readouterr().out == "name\trows\norders\t10\ncustomers\t\n"


def test_logs_and_errors_go_to_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    console.log("deploying core-local")
    exit_ = console.invalid("no such connector")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "deploying core-local\nerror: no such connector\n"
    assert exit_.exit_code == console.EXIT_INVALID_INPUT == 2


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with console.progress("building", total=3) as step:
        for _ in range(3):
            step()

    assert capsys.readouterr() == ("", "")


def test_the_exit_codes_are_the_documented_ones() -> None:
    assert (console.EXIT_OK, console.EXIT_FAILURE, console.EXIT_INVALID_INPUT) == (0, 1, 2)
    assert console.EXIT_CHANGES == 3
