"""Check spec files against the committed JSON Schema, as editors and pre-commit do.

`python -m generator.operations.check_schema FILE ...` prints `file: field.path: message` for
each problem and exits 2 when there are any. `python main.py validate` checks more (unique
names, schedules); this check proves the committed schema agrees with the files.
"""

import json
import sys
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parent.parent.parent / "schema" / "connector.schema.json"


def problems(path: Path, schema: dict[str, object]) -> list[str]:
    """Every place where a spec file breaks the schema."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{path}: {'.'.join(str(part) for part in error.absolute_path) or '(root)'}:"
        f" {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


def main(arguments: list[str]) -> int:
    """Check each file named; 0 when all agree with the schema, 2 otherwise."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    found = [line for name in arguments for line in problems(Path(name), schema)]
    for line in found:
        print(line, file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
