"""checkov over the synthesized example stacks: no failed check, no parse error.

Skipped checks are listed, each with its reason, in .checkov.yaml at the repository root.
"""

import json
import subprocess
from pathlib import Path

import pytest

from tests.unit.stacks.synthesis import EXAMPLE_ENVIRONMENTS, fixture_layer, synthesize_into

REPOSITORY = Path(__file__).resolve().parents[3]
CHECKOV = REPOSITORY / ".venv-checkov" / "bin" / "checkov"
CONFIG = REPOSITORY / ".checkov.yaml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHECKOV.exists(),
        reason="checkov is not installed; `make setup` creates .venv-checkov",
    ),
]


@pytest.fixture(scope="module")
def synthesized_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example environment side by side under one folder, so one scan covers all."""
    root = tmp_path_factory.mktemp("checkov")
    layer = fixture_layer(root)
    for environment in EXAMPLE_ENVIRONMENTS:
        synthesize_into(environment, root / environment, layer)
    return root


def test_checkov_finds_no_failed_check_and_no_parse_error(synthesized_examples):
    scan = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(CONFIG),
            "--directory",
            str(synthesized_examples),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    reports = json.loads(scan.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = [r for r in reports if r["check_type"] == "terraform_json"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    # about 760 checks pass per environment: all three were scanned, not one of them
    assert report["summary"]["passed"] > 500 * len(EXAMPLE_ENVIRONMENTS)
