"""`main.py trigger` in a deployed (non-local) environment: AWS errors end in a clear exit 1."""

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from generator.local.postgres import free_port
from main import app


def test_a_connector_whose_stack_is_not_deployed_is_named_with_what_to_do() -> None:
    with mock_aws():
        result = CliRunner().invoke(app, ["trigger", "billing-replica", "--env", "dev"])

    assert result.exit_code == 1
    assert "no schedule rule targets a scheduler of connector 'billing-replica'" in result.output
    assert "python main.py deploy --env ENV" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_aws_api_is_an_error_that_names_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    result = CliRunner().invoke(app, ["trigger", "billing-replica", "--env", "dev"])

    assert result.exit_code == 1
    assert "could not fire billing-replica's schedule in dev (111111111111, eu-west-1)" in (
        result.output
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
