"""The dependency direction of ARCHITECTURE.md section 1, checked on the import statements of
every module: main.py -> generator -> modules, and handlers stands alone (it runs on Lambda,
where neither the generator nor the constructs are shipped)."""

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def modules_under(folder: str) -> list[Path]:
    return sorted(
        path for path in (REPOSITORY / folder).rglob("*.py") if "__pycache__" not in path.parts
    )


def imported_names(path: Path, root: Path = REPOSITORY) -> list[tuple[int, str]]:
    """(line, module) for every import of a file, nested ones too, relative ones made absolute."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append((node.lineno, absolute_module(package, node)))
    return names


def absolute_module(package: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """Every import under folder of a forbidden top-level package, as file:line: module."""
    found = []
    for path in modules_under(folder):
        for line, module in imported_names(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(REPOSITORY)}:{line}: {module}")
    return found


def test_handlers_import_nothing_from_the_generator_the_constructs_or_main() -> None:
    assert imports_of("handlers", ("generator", "modules", "main")) == []


def test_constructs_import_nothing_from_the_generator_or_main() -> None:
    assert imports_of("modules", ("generator", "main")) == []


def test_the_generator_does_not_import_main() -> None:
    assert imports_of("generator", ("main",)) == []


def test_contracts_import_only_contracts_from_handlers() -> None:
    found = [
        f"{path.relative_to(REPOSITORY)}:{line}: {module}"
        for path in modules_under("handlers/contracts")
        for line, module in imported_names(path)
        if module.split(".")[0] == "handlers" and not module.startswith("handlers.contracts")
    ]

    assert found == []


@pytest.mark.parametrize(
    ("package", "statement", "expected"),
    [
        ("handlers.contracts", "from . import spec", "handlers.contracts"),
        ("handlers.contracts", "from .spec import X", "handlers.contracts.spec"),
        ("handlers.sources.postgres", "from ..base import Source", "handlers.sources.base"),
        ("handlers.contracts", "from ...generator import app", "generator"),
    ],
)
def test_relative_imports_are_resolved_to_their_package(
    package: str, statement: str, expected: str
) -> None:
    node = ast.parse(statement).body[0]
    assert isinstance(node, ast.ImportFrom)

    assert absolute_module(package, node) == expected


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    package = tmp_path / "handlers" / "sources"
    package.mkdir(parents=True)
    module = package / "probe.py"
    module.write_text(
        "import os\n\n\ndef f():\n    from generator.specs import load_specs\n"
        "    from ...modules import layer\n"
    )

    names = imported_names(module, root=tmp_path)

    assert names == [(1, "os"), (5, "generator.specs"), (6, "modules")]
