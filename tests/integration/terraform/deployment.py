"""The local stacks, synthesized and applied with Terraform into a moto server, once a session.

Both the Terraform tests and the local runtime tests use this deployment, so synthesis and
`terraform apply` (the slow part) run once per test process. Terraform state goes to the
test's own folder, never to the repository's terraform-state/.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.deploy import terraform_variables
from generator.environments import Environment, load_environment
from generator.local.emulator import start_emulator, stop_emulator
from generator.local.postgres import free_port
from generator.local.state import emulator_variables

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, and the local environment's


@dataclass
class LocalDeployment:
    """The local stacks as applied into the test emulator."""

    endpoint: str
    environment: Environment
    stacks_dir: Path
    synth_seconds: float
    apply_seconds: float


@pytest.fixture(scope="session")
def emulator_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server started as `local up` starts it, on a free port, for this test session."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    pid = start_emulator(endpoint, tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield endpoint
    stop_emulator(pid)


@pytest.fixture(scope="session")
def local_deployment(
    emulator_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> LocalDeployment:
    """Synthesize the local stacks and `terraform apply` them into the test emulator."""
    environment = load_environment("local")
    if shutil.which("terraform") is None:
        pytest.skip(
            "the Terraform CLI is not installed (https://developer.hashicorp.com/terraform/install)"
        )
    if not Path(environment.provider_mirror).is_dir():
        pytest.skip(f"no Terraform provider mirror at {environment.provider_mirror}")
    workdir = tmp_path_factory.mktemp("deployment")
    started = time.monotonic()
    stacks_dir = _synthesize(emulator_endpoint, workdir)
    synthesized = time.monotonic()
    _apply_all(environment, emulator_endpoint, stacks_dir, workdir / "state")
    deployment = LocalDeployment(
        emulator_endpoint,
        environment,
        stacks_dir,
        synthesized - started,
        time.monotonic() - synthesized,
    )
    print(
        f"local stacks: synthesized in {deployment.synth_seconds:.0f} s,"
        f" applied in {deployment.apply_seconds:.0f} s",
        file=sys.stderr,
    )
    return deployment


def _synthesize(endpoint: str, workdir: Path) -> Path:
    from generator.app import synthesize
    from generator.layer import LayerArtifact

    # The functions' code is never run in the emulator (the local runtime calls handlers
    # in-process), so a small stand-in zip replaces the real layer and its slow build.
    layer = workdir / "stand-in-layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/reef_stand_in.py", (2020, 1, 1, 0, 0, 0)), "")
    digest = base64.b64encode(hashlib.sha256(layer.read_bytes()).digest()).decode()
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    saved = os.environ.get("REEF_EMULATOR_ENDPOINT")
    os.environ["REEF_EMULATOR_ENDPOINT"] = endpoint
    try:
        outdir = synthesize("local", workdir / "cdktf.out", layer=LayerArtifact(layer, digest))
    finally:
        if saved is None:
            os.environ.pop("REEF_EMULATOR_ENDPOINT", None)
        else:
            os.environ["REEF_EMULATOR_ENDPOINT"] = saved
    return outdir / "stacks"


def _apply_all(environment: Environment, endpoint: str, stacks_dir: Path, state_dir: Path) -> None:
    state_dir.mkdir()
    stacks = sorted(child.name for child in stacks_dir.iterdir())
    for stack in stacks:
        _keep_state_in(stacks_dir / stack / "cdk.tf.json", state_dir)
    variables = terraform_variables(
        environment, emulator_variables(endpoint, REGION), config_folder=state_dir
    )
    core = [stack for stack in stacks if stack.startswith("core-")]
    _apply(stacks_dir / core[0], variables)
    # connector stacks depend only on core, so they are applied side by side
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda s: _apply(stacks_dir / s, variables),
                [stack for stack in stacks if stack not in core],
            )
        )


def _keep_state_in(stack_json: Path, state_dir: Path) -> None:
    # the backend and the cross-stack remote state both name state files by path; point
    # both at the test's folder so that the repository's terraform-state/ is never touched
    document = json.loads(stack_json.read_text())
    backend = document["terraform"]["backend"]["local"]
    backend["path"] = str(state_dir / Path(backend["path"]).name)
    for remote in document.get("data", {}).get("terraform_remote_state", {}).values():
        remote["config"]["path"] = str(state_dir / Path(remote["config"]["path"]).name)
    stack_json.write_text(json.dumps(document, indent=2))


def _apply(stack_dir: Path, variables: dict[str, str]) -> None:
    started = time.monotonic()
    for command in (
        ["init", "-input=false", "-no-color"],
        ["apply", "-auto-approve", "-input=false", "-no-color"],
    ):
        result = subprocess.run(
            ["terraform", *command],
            cwd=stack_dir,
            env=variables,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"terraform {command[0]} of {stack_dir.name} failed:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
                pytrace=False,
            )
    print(f"{stack_dir.name}: applied in {time.monotonic() - started:.0f} s", file=sys.stderr)
