"""Spec validation: every problem of every file at once, each as `file:line: field: message`.

The bad specs are files under tests/samples/specs/, one problem each (many-problems.yaml has
several), so that the line numbers asserted here are the lines a user would edit.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.errors import InvalidInput
from generator.specs import load_specs

REPOSITORY = Path(__file__).resolve().parents[3]
SAMPLES = REPOSITORY / "tests" / "samples" / "specs"


def problems_of(*paths: Path) -> list[str]:
    """The problems reported for the given spec files or folders, as printed."""
    with pytest.raises(InvalidInput) as raised:
        load_specs(list(paths))
    return [str(problem) for problem in raised.value.problems]


def run_reef(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        env={**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"},
        check=False,
        timeout=120,
    )


def test_a_yaml_syntax_error_names_the_line_and_the_construct_it_broke() -> None:
    path = SAMPLES / "yaml-syntax-error.yaml"

    assert problems_of(path) == [
        f"{path}:9: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence at line 8); fix the YAML here"
    ]


def test_an_unknown_key_is_refused_with_the_key_it_most_likely_meant() -> None:
    path = SAMPLES / "unknown-key.yaml"

    problems = problems_of(path)

    assert (
        f"{path}:10: source.tables[1].primary_keys: unknown key; did you mean 'primary_key'?"
        " expected one of: schema, table, primary_key, cursor, target, chunk_rows"
    ) in problems
    # the misspelt key also leaves the required one missing, at the table's line
    assert f"{path}:9: source.tables[1].primary_key: is required" in problems[0]


def test_a_missing_primary_key_points_at_the_table_that_lacks_it() -> None:
    path = SAMPLES / "missing-primary-key.yaml"

    assert problems_of(path) == [
        f"{path}:9: source.tables[1].primary_key: is required;"
        " expected the column(s) that identify a row, such as [id]"
    ]


def test_identifiers_with_sql_in_them_are_refused() -> None:
    path = SAMPLES / "sql-in-identifier.yaml"

    problems = problems_of(path)

    assert len(problems) == 2
    assert problems[0].startswith(
        f"{path}:9: source.tables[0].cursor: 'updated_at\"; DROP TABLE orders; --'"
        " is not a valid name; expected letters, digits"
    )
    assert problems[1].startswith(
        f"{path}:13: destination.schema: 'shop; DELETE FROM users' is not a valid name"
    )


def test_an_inline_password_is_refused_as_a_key_and_inside_a_url() -> None:
    path = SAMPLES / "inline-password.yaml"
    advice = (
        "credentials never go in a spec; store them in AWS Secrets Manager"
        " and name the secret in the 'secret' field"
    )

    problems = problems_of(path)

    assert problems == [f"{path}:3: description: {advice}", f"{path}:7: source.password: {advice}"]
    assert not any("s3cr3t" in problem for problem in problems)


def test_a_rate_with_a_unit_eventbridge_does_not_know_is_refused() -> None:
    path = SAMPLES / "bad-rate-schedule.yaml"

    assert problems_of(path) == [
        f"{path}:13: schedule: 'rate(30 seconds)': rate() takes minute(s), hour(s) or day(s),"
        " not 'seconds'; EventBridge's finest rate is one minute, as in 'rate(1 minute)'"
    ]


def test_a_five_field_unix_cron_is_refused() -> None:
    path = SAMPLES / "bad-cron-schedule.yaml"

    assert problems_of(path) == [
        f"{path}:13: schedule: cron has 5 fields; EventBridge expects six:"
        " minutes hours day-of-month month day-of-week year, as in 'cron(0 3 * * ? *)'"
    ]


def test_a_connector_name_defined_in_two_files_is_refused_in_the_second() -> None:
    folder = SAMPLES / "duplicate-name"

    assert problems_of(folder) == [
        f"{folder}/second.yaml:2: name: connector 'shop-orders' is already defined in"
        f" {folder}/first.yaml; connector names must be unique"
    ]


def test_an_unknown_source_type_lists_the_known_ones() -> None:
    path = SAMPLES / "unknown-source-type.yaml"

    assert problems_of(path) == [
        f"{path}:4: source.type: unknown type 'mysql'; expected one of: postgres, salesforce,"
        " kinesis"
    ]


def test_a_source_without_a_type_lists_the_known_ones() -> None:
    path = SAMPLES / "missing-source-type.yaml"

    assert problems_of(path) == [
        f"{path}:3: source.type: is required; expected one of: postgres, salesforce, kinesis"
    ]


def test_a_merge_of_a_stream_without_a_primary_key_points_at_the_mode() -> None:
    path = SAMPLES / "kinesis-merge-without-key.yaml"

    assert problems_of(path) == [
        f"{path}:14: destination.mode: merge needs source.table.primary_key;"
        " name the key columns or use mode: append"
    ]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    path = SAMPLES / "many-problems.yaml"

    problems = problems_of(path)

    assert [problem.split(": ")[0:2] for problem in problems] == [
        [f"{path}:2", "name"],
        [f"{path}:7", "source.tables[0].primary_key"],
        [f"{path}:8", "source.tables[1].table"],
        [f"{path}:15", "destination.colour"],
        [f"{path}:16", "schedule"],
        [f"{path}:18", "lambda.memory"],
    ]


def test_every_problem_of_every_file_in_a_folder_is_reported_at_once() -> None:
    problems = problems_of(SAMPLES)

    files = {problem.split(":")[0] for problem in problems}
    bad_files = {str(path) for path in SAMPLES.glob("*.yaml")}
    assert files == bad_files


def test_an_alias_that_contains_itself_is_a_problem_not_a_crash() -> None:
    path = SAMPLES / "alias-contains-itself.yaml"

    assert problems_of(path) == [
        f"{path}:3: source.tables[0]: this YAML alias contains itself; write it out"
    ]


def test_aliases_that_expand_into_millions_of_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    path.write_text("\n".join(lines) + "\n")

    problems = problems_of(path)

    assert len(problems) == 1
    assert "expands to more than 100000 values through YAML aliases" in problems[0]


def test_a_file_that_is_not_there_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert problems_of(path) == [
        f"{path}:1: cannot read the file: [Errno 2] No such file or directory: '{path}'"
    ]


def test_the_example_specs_are_valid() -> None:
    specs = load_specs([REPOSITORY / "connectors"])

    assert sorted(specs) == ["app-events", "billing-replica", "crm-salesforce", "shop-orders"]


def test_validate_exits_0_for_the_example_specs() -> None:
    result = run_reef("validate", "connectors")

    assert result.returncode == 0, result.stderr
    assert "4 connector specs valid" in result.stdout


def test_validate_exits_2_with_every_problem_and_no_traceback() -> None:
    result = run_reef("validate", "tests/samples/specs")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "tests/samples/specs/unknown-key.yaml:10: source.tables[1].primary_keys:" in (
        result.stderr
    )
    assert "tests/samples/specs/yaml-syntax-error.yaml:9: YAML syntax error" in result.stderr
    assert result.stderr.rstrip().endswith("problems found")


def test_validate_of_a_missing_path_exits_2_without_a_traceback() -> None:
    result = run_reef("validate", "connectors/no-such-spec.yaml")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "connectors/no-such-spec.yaml:1: cannot read the file" in result.stderr
