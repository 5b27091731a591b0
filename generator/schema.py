"""The JSON Schema of connector specs, generated from the model for editors and pre-commit."""

from typing import Any

from handlers.contracts.spec import ConnectorSpec

SCHEMA_ID = "https://reef.dev/schema/connector.schema.json"


def connector_schema() -> dict[str, Any]:
    """The schema as committed under schema/connector.schema.json."""
    schema = ConnectorSpec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
