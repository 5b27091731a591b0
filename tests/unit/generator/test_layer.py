"""The Lambda layer: built for the Lambda platform, deterministic, and rebuilt only on change.

The real build downloads manylinux wheels (from PyPI, or pip's wheel cache under build/), so
the tests share one build per session, made from a snapshot of handlers/ taken at the start:
other work on handlers/ during the run cannot make two builds differ.
"""

import base64
import hashlib
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from generator import layer
from generator.layer import (
    LayerArtifact,
    LayerBuildError,
    LayerTooLarge,
    PackageIndexUnreachable,
    build_layer,
    layer_key,
)

REPOSITORY = Path(__file__).resolve().parents[3]


def snapshot_of_handlers(folder: Path) -> Path:
    """A copy of handlers/ plus files that must stay out of the layer."""
    handlers = folder / "handlers"
    shutil.copytree(REPOSITORY / "handlers", handlers, ignore=shutil.ignore_patterns("__pycache__"))
    (handlers / "tests").mkdir()
    (handlers / "tests" / "test_handlers.py").write_text("def test_nothing(): ...\n")
    (handlers / "sources" / "test_source.py").write_text("def test_nothing(): ...\n")
    (handlers / "__pycache__").mkdir()
    (handlers / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"\0")
    return handlers


@pytest.fixture(scope="session")
def handlers_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_of_handlers(tmp_path_factory.mktemp("snapshot"))


@pytest.fixture(scope="session")
def built_layer(handlers_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> LayerArtifact:
    """One real x86_64 build, shared by the tests below."""
    return build_layer(
        "x86_64", cache_dir=tmp_path_factory.mktemp("layers"), handlers_dir=handlers_snapshot
    )


@pytest.fixture(scope="session")
def layer_names(built_layer: LayerArtifact) -> list[str]:
    with zipfile.ZipFile(built_layer.path) as archive:
        return archive.namelist()


def tiny_handlers(folder: Path, requirements: str = "") -> Path:
    handlers = folder / "handlers"
    handlers.mkdir()
    (handlers / "__init__.py").write_text('"""Handlers."""\n')
    (handlers / "requirements.txt").write_text(requirements)
    return handlers


@pytest.mark.slow
def test_the_same_inputs_give_the_same_zip_bytes(
    built_layer: LayerArtifact, handlers_snapshot: Path, tmp_path: Path
) -> None:
    again = build_layer("x86_64", cache_dir=tmp_path, handlers_dir=handlers_snapshot)

    assert again.path != built_layer.path
    assert again.path.read_bytes() == built_layer.path.read_bytes()
    assert again.sha256 == built_layer.sha256


@pytest.mark.slow
def test_the_hash_is_the_base64_sha256_terraform_expects(built_layer: LayerArtifact) -> None:
    digest = hashlib.sha256(built_layer.path.read_bytes()).digest()

    assert built_layer.sha256 == base64.b64encode(digest).decode()


@pytest.mark.slow
def test_a_changed_handler_file_changes_the_hash(
    built_layer: LayerArtifact, handlers_snapshot: Path, tmp_path: Path
) -> None:
    handlers = shutil.copytree(handlers_snapshot, tmp_path / "handlers")
    # the packages of the session build are reused, so only the zip is rebuilt
    cache_dir = built_layer.path.parent
    unchanged = build_layer("x86_64", cache_dir=cache_dir, handlers_dir=handlers)

    spec = handlers / "contracts" / "spec.py"
    spec.write_text(spec.read_text() + "\n# a change\n")
    changed = build_layer("x86_64", cache_dir=cache_dir, handlers_dir=handlers)

    assert unchanged == built_layer
    assert changed.sha256 != built_layer.sha256
    assert changed.path != built_layer.path


@pytest.mark.slow
def test_the_layer_holds_handlers_and_packages_under_python(layer_names: list[str]) -> None:
    assert "python/handlers/__init__.py" in layer_names
    assert "python/handlers/contracts/spec.py" in layer_names
    assert "python/pydantic/__init__.py" in layer_names
    assert "python/aws_lambda_powertools/__init__.py" in layer_names
    assert "python/simple_salesforce/__init__.py" in layer_names
    assert all(name.startswith("python/") for name in layer_names)


@pytest.mark.slow
def test_the_packages_are_built_for_lambda_not_for_this_machine(layer_names: list[str]) -> None:
    binaries = [name for name in layer_names if name.endswith(".so")]

    assert any(name.startswith("python/pydantic_core/") for name in binaries)
    assert any(name.startswith("python/psycopg2/_psycopg.cpython-312-x86_64") for name in binaries)
    assert not any("cpython-311" in name for name in binaries)


def elf_machine(binary: bytes) -> int:
    """The e_machine field of an ELF header: 62 is x86-64, 183 is AArch64."""
    assert binary[:4] == b"\x7fELF"
    return int.from_bytes(binary[18:20], "little")


@pytest.mark.slow
def test_an_arm64_layer_carries_aarch64_binaries_of_every_compiled_package(
    handlers_snapshot: Path, tmp_path: Path
) -> None:
    built = build_layer("arm64", cache_dir=tmp_path, handlers_dir=handlers_snapshot)

    with zipfile.ZipFile(built.path) as archive:
        binaries = {n: archive.read(n) for n in archive.namelist() if n.endswith(".so")}
    psycopg = [name for name in binaries if name.startswith("python/psycopg2/_psycopg.")]
    assert psycopg == ["python/psycopg2/_psycopg.cpython-312-aarch64-linux-gnu.so"]
    assert any(name.startswith("python/pydantic_core/") for name in binaries)
    assert {elf_machine(binary) for binary in binaries.values()} == {183}


@pytest.mark.slow
def test_the_layer_leaves_out_tests_bytecode_and_pip_install_records(
    layer_names: list[str],
) -> None:
    handler_files = [name for name in layer_names if name.startswith("python/handlers/")]

    assert not any("/tests/" in name or "/test_" in name for name in handler_files)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in layer_names)
    assert not any(name.startswith("python/bin/") for name in layer_names)
    assert not any(
        name.endswith(("dist-info/RECORD", "dist-info/INSTALLER", "dist-info/direct_url.json"))
        for name in layer_names
    )
    assert not any(name.startswith("python/boto3/") for name in layer_names)


@pytest.mark.slow
def test_entries_are_sorted_with_fixed_times_and_permissions(built_layer: LayerArtifact) -> None:
    with zipfile.ZipFile(built_layer.path) as archive:
        entries = archive.infolist()

    assert [entry.filename for entry in entries] == sorted(entry.filename for entry in entries)
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {entry.external_attr >> 16 for entry in entries} == {0o100644}


@pytest.mark.slow
def test_a_cached_layer_is_returned_without_building_again(
    built_layer: LayerArtifact,
    handlers_snapshot: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_build(*_: object) -> None:
        raise AssertionError("the cached layer should have been used")

    monkeypatch.setattr(layer, "_installed_packages", no_build)
    monkeypatch.setattr(layer, "_write_zip", no_build)

    cached = build_layer(
        "x86_64", cache_dir=built_layer.path.parent, handlers_dir=handlers_snapshot
    )

    assert cached == built_layer


def test_the_key_covers_handler_sources_requirements_and_architecture(tmp_path: Path) -> None:
    handlers = tiny_handlers(tmp_path, "pydantic==2.14.4\n")
    first = layer_key("x86_64", handlers)

    (handlers / "__pycache__").mkdir()
    (handlers / "__pycache__" / "x.pyc").write_bytes(b"\0")
    after_bytecode = layer_key("x86_64", handlers)
    (handlers / "sources.py").write_text("X = 1\n")
    after_new_file = layer_key("x86_64", handlers)
    (handlers / "requirements.txt").write_text("pydantic==2.14.3\n")
    after_requirements = layer_key("x86_64", handlers)

    assert after_bytecode == first
    assert len({first, after_new_file, after_requirements}) == 3
    assert layer_key("arm64", handlers) != after_requirements


def test_an_unknown_architecture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerBuildError, match=r"unknown Lambda architecture 'amd64'.*arm64"):
        build_layer("amd64", cache_dir=tmp_path)


def test_an_unreachable_package_index_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a port nothing listens on, and no local wheels or cached index pages to fall back on
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "1")
    handlers = tiny_handlers(tmp_path, "pydantic==2.14.4\n")

    with pytest.raises(PackageIndexUnreachable) as raised:
        build_layer(
            "x86_64",
            cache_dir=tmp_path / "layers",
            handlers_dir=handlers,
            wheel_cache=tmp_path / "wheels",
        )

    message = str(raised.value)
    assert f"could not reach the package index to install {handlers}/requirements.txt" in message
    assert "pydantic==2.14.4" in message
    assert "Check the network, proxy" in message
    assert "Traceback" not in message
    assert not list((tmp_path / "layers").glob("*.zip"))


def test_a_layer_above_lambdas_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer, "UNZIPPED_LIMIT_BYTES", 10)
    handlers = tiny_handlers(tmp_path)
    (handlers / "big.py").write_text("X = 1\n" * 10)

    with pytest.raises(LayerTooLarge, match=r"unzipped; Lambda allows .* MB for a function"):
        build_layer("arm64", cache_dir=tmp_path / "layers", handlers_dir=handlers)

    assert not list((tmp_path / "layers").glob("*.zip"))
    assert not list((tmp_path / "layers").glob(".layer-*"))


def test_a_layer_without_requirements_holds_only_the_handlers(tmp_path: Path) -> None:
    handlers = tiny_handlers(tmp_path)

    built = build_layer("arm64", cache_dir=tmp_path / "layers", handlers_dir=handlers)

    with zipfile.ZipFile(built.path) as archive:
        assert archive.namelist() == ["python/handlers/__init__.py"]


def test_zips_of_earlier_handler_versions_are_pruned_once_unused(tmp_path: Path) -> None:
    cache_dir = tmp_path / "layers"
    cache_dir.mkdir()
    an_hour_ago = time.time() - 3700
    stale = [cache_dir / f"reef-layer-arm64-old{number}.zip" for number in range(4)]
    for age, path in enumerate(stale):
        path.write_bytes(b"")
        os.utime(path, (an_hour_ago - age, an_hour_ago - age))
    recent = cache_dir / "reef-layer-arm64-recent.zip"
    recent.write_bytes(b"")
    other_architecture = cache_dir / "reef-layer-x86_64-old.zip"
    other_architecture.write_bytes(b"")
    os.utime(other_architecture, (an_hour_ago, an_hour_ago))

    built = build_layer("arm64", cache_dir=cache_dir, handlers_dir=tiny_handlers(tmp_path))

    remaining = {path.name for path in cache_dir.glob("*.zip")}
    assert remaining == {
        built.path.name,
        recent.name,
        stale[0].name,
        other_architecture.name,
    }


def test_a_missing_requirements_file_is_named(tmp_path: Path) -> None:
    handlers = tiny_handlers(tmp_path)
    (handlers / "requirements.txt").unlink()

    with pytest.raises(LayerBuildError, match=r"requirements.txt is missing"):
        build_layer("arm64", cache_dir=tmp_path / "layers", handlers_dir=handlers)
