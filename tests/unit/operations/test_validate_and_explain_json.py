import json
from pathlib import Path

from typer.testing import CliRunner

from main import app

runner = CliRunner()
BAD_SPECS = Path(__file__).parents[2] / "samples" / "specs"


def test_validate_json_lists_the_valid_connectors():
    result = runner.invoke(app, ["validate", "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert "billing-replica" in document["connectors"]
    assert document["problems"] == []


def test_validate_json_gives_every_problem_with_file_line_and_field_and_exits_2():
    result = runner.invoke(app, ["validate", "--json", str(BAD_SPECS / "inline-password.yaml")])

    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["valid"] is False
    (problem,) = [p for p in document["problems"] if p["field"].endswith("password")]
    assert problem["file"].endswith("inline-password.yaml")
    assert problem["line"] > 1
    assert "Secrets Manager" in problem["message"]


def test_explain_json_gives_each_units_statements():
    result = runner.invoke(app, ["explain", "billing-replica", "--json"])

    assert result.exit_code == 0, result.output
    units = json.loads(result.stdout)["units"]
    assert set(units) == {"invoices", "invoice_lines", "credit_notes"}
    assert units["credit_notes"]["target"] == "billing.credit_notes"
    assert any("COPY (SELECT" in statement for statement in units["credit_notes"]["extract"])
    assert not any(
        "OFFSET" in statement for unit in units.values() for statement in unit["extract"]
    )
    assert any(statement.startswith("COPY") for statement in units["invoices"]["load"])


def test_explain_of_an_unknown_connector_exits_2():
    result = runner.invoke(app, ["explain", "nope", "--json"])

    assert result.exit_code == 2
