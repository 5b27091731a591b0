"""`new`: a commented connector spec from a template, valid as written."""

import tempfile
from pathlib import Path
from typing import Literal

import jinja2

from generator.errors import InvalidInput
from generator.specs import load_specs
from handlers.contracts.identifiers import CONNECTOR_NAME

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SourceKind = Literal["postgres", "salesforce", "kinesis"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("postgres", "salesforce", "kinesis")


class NewSpecError(Exception):
    """A spec that cannot be written: a bad name, or a file already there."""


def render_spec(kind: SourceKind, name: str) -> str:
    """The commented spec text for a new connector of this kind."""
    if not CONNECTOR_NAME.fullmatch(name):
        raise NewSpecError(
            f"{name!r} is not a valid connector name; expected 2 to 32 lowercase letters,"
            " digits or '-', starting with a letter, such as 'shop-orders'"
        )
    # YAML, not HTML: there is nothing to escape, and the name has passed the strict pattern
    environment = jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    schema = name.replace("-", "_")
    return environment.get_template(f"{kind}.yaml.j2").render(name=name, schema=schema)


def write_spec(kind: SourceKind, name: str, folder: Path) -> Path:
    """Write connectors/<name>.yaml (or into folder); never overwrites an existing file."""
    text = render_spec(kind, name)
    path = folder / f"{name}.yaml"
    if path.exists():
        raise NewSpecError(f"{path} already exists; pick another name or remove the file")
    _check_valid(text, name)
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": fail rather than overwrite in a race
        out.write(text)
    return path


def _check_valid(text: str, name: str) -> None:
    # a template that does not validate is Reef's bug, not the user's: say so plainly
    with tempfile.TemporaryDirectory(prefix="reef-new-") as folder:
        draft = Path(folder) / f"{name}.yaml"
        draft.write_text(text, encoding="utf-8")
        try:
            load_specs([draft])
        except InvalidInput as invalid:
            raise RuntimeError(f"the template does not validate: {invalid}") from invalid
