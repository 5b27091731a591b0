"""Every example environment, synthesized once per test session."""

from pathlib import Path

import pytest

from generator.layer import LayerArtifact
from tests.unit.stacks.synthesis import (
    EXAMPLE_ENVIRONMENTS,
    Synthesized,
    fixture_layer,
    synthesize_into,
)


@pytest.fixture(scope="session")
def layer_artifact(tmp_path_factory: pytest.TempPathFactory) -> LayerArtifact:
    return fixture_layer(tmp_path_factory.mktemp("layer"))


@pytest.fixture(scope="session")
def synthesized(
    tmp_path_factory: pytest.TempPathFactory, layer_artifact: LayerArtifact
) -> dict[str, Synthesized]:
    """Environment name -> its synthesized stacks (example specs, fixture layer)."""
    root = tmp_path_factory.mktemp("synth")
    return {
        name: Synthesized(name, synthesize_into(name, root / name, layer_artifact))
        for name in EXAMPLE_ENVIRONMENTS
    }


@pytest.fixture(scope="session")
def local(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["local"]


@pytest.fixture(scope="session")
def dev(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def resynthesized_local(
    tmp_path_factory: pytest.TempPathFactory, layer_artifact: LayerArtifact
) -> Path:
    """A second, independent synthesis of the local environment."""
    return synthesize_into("local", tmp_path_factory.mktemp("again") / "local", layer_artifact)
