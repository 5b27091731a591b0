"""`new`: a commented spec from a template that validates as written, and refusals."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from generator.operations.new import SOURCE_KINDS
from generator.specs import load_specs
from main import app

REPOSITORY = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((REPOSITORY / "schema" / "connector.schema.json").read_text())
runner = CliRunner()


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_each_template_writes_a_spec_that_validates_and_the_schema_accepts(
    kind: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["new", kind, f"my-{kind}", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    path = tmp_path / f"my-{kind}.yaml"
    assert result.stdout.strip() == str(path)
    specs = load_specs([path])
    assert list(specs) == [f"my-{kind}"]
    assert specs[f"my-{kind}"].source.type == kind
    jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)
    assert path.read_text().startswith(f"# my-{kind}:")


def test_an_invalid_name_is_refused_with_exit_2_and_nothing_is_written(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "postgres", "Shop_Orders", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert "not a valid connector name" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_source_is_refused_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "mysql", "shop", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert "unknown source 'mysql'" in result.stderr


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    existing = tmp_path / "shop.yaml"
    existing.write_text("# mine\n")

    result = runner.invoke(app, ["new", "postgres", "shop", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert existing.read_text() == "# mine\n"
