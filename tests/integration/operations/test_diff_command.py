"""`diff` on the local environment: real Terraform plans against the stacks deployed in moto.

It reuses the session's deployment (tests/integration/terraform/deployment.py): a copy of
its state files, its stand-in layer, and the emulator it applied into.
"""

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import app as generator_app
from generator.environments import REPOSITORY
from generator.layer import LayerArtifact
from generator.local.state import EmulatorState, LocalState, PostgresState
from main import app

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
    pytest.mark.xdist_group("local-deployment"),
    pytest.mark.timeout(1500),
]

runner = CliRunner()
STACK_OF = "billing-replica"


@pytest.fixture
def planned_env(local_deployment: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The local environment as deployed by the session, seen by `diff` through a copy."""
    workdir = local_deployment.stacks_dir.parents[1]
    states = tmp_path / "tfstate" / "local"
    states.mkdir(parents=True)
    for state in (workdir / "state").glob("*.tfstate"):
        shutil.copy(state, states / state.name)
    environment = yaml.safe_load((REPOSITORY / "environments" / "local.yaml").read_text())
    environment["state"] = {"type": "local", "path": str(tmp_path / "tfstate")}
    environments = tmp_path / "environments"
    environments.mkdir()
    (environments / "local.yaml").write_text(yaml.safe_dump(environment))
    monkeypatch.setenv("REEF_ENVIRONMENTS_DIR", str(environments))
    monkeypatch.setenv("REEF_LOCAL_DIR", str(tmp_path / "local"))
    endpoint = local_deployment.endpoint
    LocalState(
        "us-east-1",
        "123456789012",
        EmulatorState(pid=0, endpoint=endpoint, port=int(endpoint.rsplit(":", 1)[1]), log=""),
        PostgresState(pid=0, port=0, data_dir="", dsn=""),
    ).save()
    layer = workdir / "stand-in-layer.zip"  # the very file the deployment used
    digest = base64.b64encode(hashlib.sha256(layer.read_bytes()).digest()).decode()
    monkeypatch.setattr(generator_app, "build_layer", lambda *_: LayerArtifact(layer, digest))
    return local_deployment


def stack_named(deployment: Any, fragment: str) -> str:
    (stack,) = [s.name for s in deployment.stacks_dir.iterdir() if s.name.startswith(fragment)]
    return stack


def diff(tmp_path: Path, stack: str) -> Any:
    return runner.invoke(
        app, ["diff", "--env", "local", stack, "--out", str(tmp_path / "out"), "--json"]
    )


def test_diff_right_after_a_deploy_finds_no_changes_and_exits_0(
    planned_env: Any, tmp_path: Path
) -> None:
    # The core stack, because moto reads every one of its resources back as applied. A
    # connector stack shows in-place changes right after a deploy on moto: moto returns no
    # dead_letter_config for functions, no queue policies, and redrive policies re-spaced.
    core = stack_named(planned_env, "core-")

    result = diff(tmp_path, core)

    assert result.exit_code == 0, result.output
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["stack"] == core
    assert (stack["changed"], stack["add"], stack["change"], stack["destroy"]) == (False, 0, 0, 0)


def test_diff_after_a_spec_change_counts_it_and_exits_3(
    planned_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connectors = tmp_path / "connectors"
    shutil.copytree(REPOSITORY / "connectors", connectors)
    spec = connectors / f"{STACK_OF}.yaml"
    spec.write_text(spec.read_text().replace("rate(1 hour)", "rate(2 hours)"))
    monkeypatch.setenv("REEF_CONNECTORS_DIR", str(connectors))

    result = diff(tmp_path, stack_named(planned_env, STACK_OF))

    assert result.exit_code == 3, result.output
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["changed"] is True
    assert stack["change"] >= 1 and stack["destroy"] == 0
    changed = " ".join(stack["addresses"]["change"])
    assert "cloudwatch_event_rule" in changed  # the schedule lives on the EventBridge rule
