"""The JSON Schema of connector specs: generated from the model, committed, and in agreement
with the example specs, so that an editor validating against it agrees with `reef validate`."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator.schema import connector_schema

REPOSITORY = Path(__file__).resolve().parents[3]
COMMITTED = REPOSITORY / "schema" / "connector.schema.json"
EXAMPLES = sorted((REPOSITORY / "connectors").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(COMMITTED.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_the_schema_command_prints_the_committed_schema() -> None:
    result = subprocess.run(
        [sys.executable, "main.py", "schema"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(COMMITTED.read_text()), (
        "schema/connector.schema.json is stale; run"
        " `.venv/bin/python main.py schema > schema/connector.schema.json`"
    )


def test_the_committed_schema_is_the_model_schema_byte_for_byte() -> None:
    generated = json.dumps(connector_schema(), indent=2, sort_keys=True) + "\n"

    assert COMMITTED.read_text() == generated


def test_the_schema_is_a_draft_2020_12_schema() -> None:
    schema: dict[str, Any] = json.loads(COMMITTED.read_text())

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("spec", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_spec_validates_against_the_schema(
    spec: Path, validator: jsonschema.protocols.Validator
) -> None:
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(spec.read_text()))]

    assert errors == []


def test_the_schema_refuses_an_unknown_key(validator: jsonschema.protocols.Validator) -> None:
    document = yaml.safe_load(EXAMPLES[0].read_text())
    document["destination"]["colour"] = "blue"

    assert not validator.is_valid(document)
