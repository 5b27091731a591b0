"""`main.py status`: per unit the newest batches, as a table or as stable JSON."""

import json

import pytest
from typer.testing import CliRunner

import main
from generator import console
from generator.environments import load_environment
from generator.operations.status import collect_status, render_json, render_text
from handlers.bookkeeping import BatchState
from tests.fakes.driver import Driver
from tests.fakes.flow import UNIT, Flow, connector_spec


@pytest.fixture
def loaded_flow(flow: Flow, driver: Driver) -> Flow:
    flow.source.upsert(range(1, 6))
    driver.tick("2024-05-01T10:07:13Z")
    driver.run_until_idle()
    return flow


def test_the_status_of_a_loaded_unit_shows_its_batch_and_watermark(loaded_flow: Flow) -> None:
    environment = load_environment("local")

    found = collect_status(environment, [connector_spec()], table_name="reef-test-bookkeeping")

    unit = found["connectors"]["shop"]["units"][UNIT]
    assert unit["watermark"]["value"] == "5"
    [batch] = unit["batches"]
    assert batch["state"] == BatchState.LOADED.value
    assert (batch["rows"], batch["chunks"], batch["error"]) == (5, 2, None)
    assert batch["extract_seconds"] is not None and batch["load_seconds"] is not None
    text = render_text(found)
    assert "shop / orders: loaded up to 5" in text
    assert "2024-05-01T10:00:00Z" in text and "LOADED" in text


def test_the_json_form_is_stable_for_scripts(loaded_flow: Flow) -> None:
    environment = load_environment("local")
    found = collect_status(environment, [connector_spec()], table_name="reef-test-bookkeeping")

    document = json.loads(render_json(found))

    assert list(document) == ["connectors", "environment", "table", "version"]
    assert document["version"] == 1
    assert render_json(found) == render_json(json.loads(render_json(found)))


def test_the_command_says_what_is_wrong_when_the_table_is_missing(flow: Flow) -> None:
    result = CliRunner().invoke(main.app, ["status", "shop-orders", "--env", "local", "--json"])

    assert result.exit_code == console.EXIT_FAILURE
    assert "reef-local-bookkeeping" in result.output
    assert "Traceback" not in result.output


def test_the_command_refuses_an_unknown_connector(flow: Flow) -> None:
    result = CliRunner().invoke(main.app, ["status", "no-such-flow"])
    assert result.exit_code == console.EXIT_INVALID_INPUT
    assert "expected one of" in result.output
