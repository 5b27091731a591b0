"""Synthesis: the specs and an environment in, one cdktf app with its stacks out."""

import os
import shutil
import tempfile
from pathlib import Path

from cdktf import App

from generator.environments import REPOSITORY, check_overrides, load_environment
from generator.errors import InvalidInput, Problem
from generator.layer import LayerArtifact, build_layer
from generator.specs import load_specs
from generator.stacks.connector import ConnectorStack
from generator.stacks.core import CoreStack
from handlers.contracts.spec import RedshiftDestination
from modules.function import write_placeholder_code

DEFAULT_OUTDIR = REPOSITORY / "cdktf.out"
# What cdktf writes at the top of its output folder; a folder holding only these (an
# interrupted synthesis leaves an empty stacks/) may be replaced.
_CDKTF_ENTRIES = {"manifest.json", "stacks"}


def synthesize(
    environment_name: str, outdir: Path | None = None, layer: LayerArtifact | None = None
) -> Path:
    """Write the core stack and one stack per connector of the environment into `outdir`.

    `outdir` defaults to the folder the cdktf CLI names in CDKTF_OUTDIR (which the CLI
    manages), else cdktf.out/ in the repository. `layer` is the built layer zip; left out,
    it is built (or taken from its cache). Returns the output folder. Raises InvalidInput
    for bad specs or environment files.
    """
    specs = load_specs()
    environment = load_environment(environment_name)
    check_overrides(environment, specs)
    layer = layer or build_layer(environment.lambda_.architecture)
    if outdir is None and os.environ.get("CDKTF_OUTDIR"):
        outdir = Path(os.environ["CDKTF_OUTDIR"]).resolve()
    else:
        outdir = (outdir or DEFAULT_OUTDIR).resolve()
        _clear(outdir)

    with tempfile.TemporaryDirectory(prefix="reef-synth-") as scratch:
        code = write_placeholder_code(Path(scratch))
        app = App(outdir=str(outdir), stack_traces=False)
        core = CoreStack(
            app,
            environment,
            layer=layer,
            outdir=outdir,
            with_redshift=any(
                isinstance(spec.destination, RedshiftDestination) for spec in specs.values()
            ),
        )
        for name in sorted(specs):
            ConnectorStack(app, specs[name], environment, core=core, code=code, outdir=outdir)
        app.synth()
    return outdir


def _clear(outdir: Path) -> None:
    # A stack removed from the specs must not linger in the output, but a folder that is
    # not a previous synthesis is never deleted.
    if not outdir.exists():
        return
    if any(child.name not in _CDKTF_ENTRIES for child in outdir.iterdir()):
        raise InvalidInput(
            [
                Problem(
                    outdir,
                    1,
                    "",
                    "is not empty and holds no cdktf output; choose another"
                    " --out folder or empty this one",
                )
            ]
        )
    shutil.rmtree(outdir)
