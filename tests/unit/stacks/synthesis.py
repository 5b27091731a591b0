"""Synthesizing the example specs for the example environments, once per test session.

jsii makes synthesis slow to start, so the stack tests and the checkov test share this:
each environment is synthesized once into a temporary folder, with a small fixture layer zip
in place of the real layer build.
"""

import base64
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.layer import LayerArtifact

EXAMPLE_ENVIRONMENTS = ("local", "dev", "prod")


def fixture_layer(folder: Path) -> LayerArtifact:
    """A tiny, deterministic layer zip: the stacks only need its path and hash."""
    path = folder / "fixture-layer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/reef_fixture.py", (1980, 1, 1, 0, 0, 0)), "")
    digest = hashlib.sha256(path.read_bytes()).digest()
    return LayerArtifact(path, base64.b64encode(digest).decode("ascii"))


def synthesize_into(environment: str, outdir: Path, layer: LayerArtifact) -> Path:
    """Synthesize one example environment into `outdir`."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from generator.app import synthesize

    return synthesize(environment, outdir, layer=layer)


@dataclass(frozen=True)
class Synthesized:
    """The output folder of one environment, with its stacks' JSON."""

    environment: str
    outdir: Path

    def stack(self, name: str) -> dict[str, Any]:
        path = self.outdir / "stacks" / name / "cdk.tf.json"
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return document

    @property
    def stack_names(self) -> list[str]:
        return sorted(child.name for child in (self.outdir / "stacks").iterdir())

    def connector_stacks(self) -> dict[str, dict[str, Any]]:
        """Connector name -> stack JSON, for every stack but core."""
        suffix = f"-{self.environment}"
        return {
            name.removesuffix(suffix): self.stack(name)
            for name in self.stack_names
            if not name.startswith("core-")
        }


def resources(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of one type in a stack, by logical id."""
    found: dict[str, dict[str, Any]] = stack.get("resource", {}).get(kind, {})
    return found


def data_sources(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack.get("data", {}).get(kind, {})
    return found


def reference(kind: str, logical_id: str, attribute: str) -> str:
    """How Terraform JSON refers to an attribute of a resource in the same stack."""
    return f"${{{kind}.{logical_id}.{attribute}}}"
