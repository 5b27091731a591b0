"""Finding and validating the connector specs: one YAML file per connector."""

import os
from pathlib import Path

from generator.errors import InvalidInput, Problem
from generator.yaml_documents import load_yaml_model, read_field_lines
from handlers.contracts.spec import ConnectorSpec

REPOSITORY = Path(__file__).resolve().parent.parent
SPEC_SUFFIXES = (".yaml", ".yml")


def connectors_dir() -> Path:
    """The folder of connector specs: REEF_CONNECTORS_DIR, or connectors/ in the repository."""
    return Path(os.environ.get("REEF_CONNECTORS_DIR") or REPOSITORY / "connectors")


def spec_files(paths: list[Path] | None = None) -> list[Path]:
    """The spec files named, or found in the folders named, sorted for stable output."""
    files: list[Path] = []
    for path in paths or [connectors_dir()]:
        if path.is_dir():
            files += [child for child in path.iterdir() if child.suffix in SPEC_SUFFIXES]
        else:
            files.append(path)
    return sorted(files)


def load_specs(paths: list[Path] | None = None) -> dict[str, ConnectorSpec]:
    """Every connector spec by name; raises InvalidInput with every problem in every file."""
    problems: list[Problem] = []
    specs: dict[str, ConnectorSpec] = {}
    first_file: dict[str, Path] = {}
    for path in spec_files(paths):
        try:
            spec = load_yaml_model(path, ConnectorSpec)
        except InvalidInput as invalid:
            problems += invalid.problems
            continue
        if spec.name in specs:
            problems.append(
                Problem(
                    path,
                    read_field_lines(path).get(("name",), 1),
                    "name",
                    f"connector {spec.name!r} is already defined in {first_file[spec.name]};"
                    " connector names must be unique",
                )
            )
            continue
        specs[spec.name] = spec
        first_file[spec.name] = path
    if problems:
        raise InvalidInput(problems)
    return specs
