"""The shared Lambda layer: the handlers package and its third-party packages, zipped.

The layer is built for the Lambda platform, not for this machine: pip installs manylinux
wheels for python3.12 and the environment's architecture. The zip is deterministic (sorted
entries, fixed timestamps and permissions, no bytecode, none of pip's per-install files), so
the same inputs give the same bytes and the same hash, and a GitOps diff of the synthesized
stacks shows a layer change only when the handlers or their requirements changed.

Two caches keep rebuilds cheap: the finished zip by a key over every input, and the installed
third-party packages by a key over the requirements, so that a handler change only re-zips.
pip's own wheel cache lies beside them under build/.
"""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPOSITORY = Path(__file__).resolve().parent.parent
HANDLERS_DIR = REPOSITORY / "handlers"
DEFAULT_CACHE_DIR = REPOSITORY / "build" / "layers"
DEFAULT_WHEEL_CACHE = REPOSITORY / "build" / "pip-cache"

Architecture = Literal["x86_64", "arm64"]

# The Lambda runtime is python3.12; wheels must match it, not the generator's Python.
PYTHON_VERSION = "3.12"

# The python3.12 runtime is Amazon Linux 2023, glibc 2.34, so it loads manylinux wheels up
# to manylinux_2_34; pip is given each level, because some packages publish some
# architectures at a newer level only (psycopg2-binary 2.9.13 has aarch64 wheels for
# manylinux_2_28 and none for manylinux2014, that is manylinux_2_17).
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
# https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html
_MANYLINUX_LEVELS = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
PLATFORMS: dict[str, tuple[str, ...]] = {
    architecture: tuple(f"{level}_{machine}" for level in _MANYLINUX_LEVELS)
    for architecture, machine in (("x86_64", "x86_64"), ("arm64", "aarch64"))
}

# Lambda's limit on a function and all its layers, unzipped: 250 MB (262,144,000 bytes).
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
UNZIPPED_LIMIT_BYTES = 262_144_000
# A zip above 50 MB cannot be uploaded directly; it has to go through S3 (same page).
DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024

# Every handler change makes a new zip of about 20 MB; older ones go once they are unused.
KEEP_ZIPS = 3
KEEP_UNUSED_SECONDS = 3600

# Raise this when the layout or the zip format below changes, so that old zips are not reused.
FORMAT_VERSION = "1"

# Lambda adds /opt/python to sys.path for Python layers.
# https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths
LAYER_ROOT = "python"

# Files pip writes per install whose content varies between machines or runs (RECORD holds
# hashes of generated scripts; the others describe the install, not the package).
_PIP_INSTALL_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
# The zip's fixed timestamp: the earliest a zip entry can hold.
# What pip prints when the index cannot be reached (urllib3 and pip's own wording).
_CONNECTION_MARKERS = (
    "NewConnectionError",
    "ConnectTimeoutError",
    "ProxyError",
    "SSLError",
    "Could not fetch URL",
    "Temporary failure in name resolution",
)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # a regular file, rw-r--r--


class LayerBuildError(Exception):
    """The layer could not be built; the message says what failed and what to do."""


class PackageIndexUnreachable(LayerBuildError):
    """pip could not reach the package index; transient: run again once it is reachable."""


class PackagesNotInstallable(LayerBuildError):
    """pip reached the index but could not install a requirement; terminal until it is fixed."""


class LayerTooLarge(LayerBuildError):
    """The layer exceeds a Lambda size limit; terminal until the requirements shrink."""


@dataclass(frozen=True)
class LayerArtifact:
    """A built layer zip and its base64 SHA-256, the form Terraform's source_code_hash wants."""

    path: Path
    sha256: str


def build_layer(
    architecture: str,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    handlers_dir: Path = HANDLERS_DIR,
    wheel_cache: Path = DEFAULT_WHEEL_CACHE,
) -> LayerArtifact:
    """The layer zip for an architecture ("x86_64" or "arm64"), built only if its inputs changed."""
    if architecture not in PLATFORMS:
        raise LayerBuildError(
            f"unknown Lambda architecture {architecture!r}; expected one of: "
            + ", ".join(sorted(PLATFORMS))
        )
    zip_path = cache_dir / f"reef-layer-{architecture}-{layer_key(architecture, handlers_dir)}.zip"
    if zip_path.exists():
        os.utime(zip_path)  # recently used: kept when old zips are pruned
    else:
        _progress(f"building the Lambda layer for {architecture}: {zip_path.name}")
        packages = _installed_packages(architecture, handlers_dir, cache_dir, wheel_cache)
        _write_zip(zip_path, _layer_entries(handlers_dir, packages))
        _progress(f"layer ready: {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB zipped)")
        _prune_old_zips(cache_dir, architecture)
    return LayerArtifact(zip_path, _base64_sha256(zip_path))


def layer_key(architecture: str, handlers_dir: Path = HANDLERS_DIR) -> str:
    """A hash of every input of the layer: requirements, handler sources, platform."""
    digest = hashlib.sha256()
    digest.update(f"format={FORMAT_VERSION}\0python={PYTHON_VERSION}\0".encode())
    digest.update(_requirements_key(architecture, handlers_dir).encode())
    for source in _handler_sources(handlers_dir):
        digest.update(source.relative_to(handlers_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(source.read_bytes()).digest())
    return digest.hexdigest()[:32]


def _requirements_key(architecture: str, handlers_dir: Path) -> str:
    requirements = handlers_dir / "requirements.txt"
    if not requirements.is_file():
        raise LayerBuildError(
            f"{requirements} is missing; it lists the layer's third-party packages"
            " (an empty file is fine if there are none)"
        )
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(",".join(PLATFORMS[architecture]).encode())  # the wheels pip may choose
    return f"{architecture}-py{PYTHON_VERSION}-{digest.hexdigest()[:24]}"


def _handler_sources(handlers_dir: Path) -> list[Path]:
    """The handler package's .py files, without tests and bytecode folders."""
    return sorted(
        path
        for path in handlers_dir.rglob("*.py")
        if not any(
            part == "__pycache__" or part.startswith(("test_", "tests")) or part == "conftest.py"
            for part in path.relative_to(handlers_dir).parts
        )
    )


def _installed_packages(
    architecture: str, handlers_dir: Path, cache_dir: Path, wheel_cache: Path
) -> Path:
    """The third-party packages installed for Lambda, cached by the requirements' key."""
    target = cache_dir / "packages" / _requirements_key(architecture, handlers_dir)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".install-", dir=target.parent) as scratch:
        staging = Path(scratch) / "site"
        staging.mkdir()
        requirements = handlers_dir / "requirements.txt"
        if _has_requirements(requirements):
            _pip_install(architecture, requirements, staging, wheel_cache)
        try:
            staging.rename(target)
        except OSError:
            # Another build (a parallel test worker, say) finished the same install first.
            if not target.is_dir():
                raise
    return target


def _has_requirements(requirements: Path) -> bool:
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


def _pip_install(architecture: str, requirements: Path, target: Path, wheel_cache: Path) -> None:
    _progress(
        f"installing {requirements.name} for {architecture} ({', '.join(PLATFORMS[architecture])}),"
        f" python {PYTHON_VERSION}"
    )
    command = [
        sys.executable, "-m", "pip", "install",
        "--progress-bar", "off", "--disable-pip-version-check", "--no-input", "--no-compile",
        *(option for platform in PLATFORMS[architecture] for option in ("--platform", platform)),
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--cache-dir", str(wheel_cache),
        "--target", str(target),
        "--requirement", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _pip_failure(requirements, result.stderr)


def _pip_failure(requirements: Path, stderr: str) -> LayerBuildError:
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("ERROR")] or lines[-3:] or ["(no output)"]
    detail = "\n  ".join(errors[-3:])
    if any(marker in stderr for marker in _CONNECTION_MARKERS):
        return PackageIndexUnreachable(
            f"could not reach the package index to install {requirements}:\n  {detail}\n"
            "The layer's packages come from PyPI (or the index in PIP_INDEX_URL or pip.conf)."
            " Check the network, proxy (HTTPS_PROXY) and certificate settings, then run again;"
            " once built, the layer is cached under build/ and needs no network."
        )
    return PackagesNotInstallable(
        f"could not install the Lambda layer's packages from {requirements}:\n  {detail}\n"
        f"Every pinned package needs a wheel for python {PYTHON_VERSION} on manylinux2014 to"
        " manylinux_2_34, for x86_64 and aarch64; pick a version that has one, or fix the pin,"
        " then run again."
    )


def _layer_entries(handlers_dir: Path, packages: Path) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file on disk) for every file of the layer, not yet sorted."""
    for source in _handler_sources(handlers_dir):
        yield f"{LAYER_ROOT}/handlers/{source.relative_to(handlers_dir).as_posix()}", source
    for path in packages.rglob("*"):
        relative = path.relative_to(packages)
        if path.is_file() and _belongs_in_layer(relative):
            yield f"{LAYER_ROOT}/{relative.as_posix()}", path


def _belongs_in_layer(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] == "bin":
        return False  # console scripts, with this machine's interpreter in their shebang
    if "__pycache__" in parts or relative.suffix == ".pyc":
        return False
    in_dist_info = len(parts) > 1 and parts[-2].endswith(".dist-info")
    return not (in_dist_info and parts[-1] in _PIP_INSTALL_FILES)


def _write_zip(zip_path: Path, entries: Iterator[tuple[str, Path]]) -> None:
    """Write the entries sorted, with fixed metadata, then check Lambda's size limit."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    unzipped = 0
    with tempfile.NamedTemporaryFile(
        dir=zip_path.parent, prefix=".layer-", suffix=".zip", delete=False
    ) as scratch:
        try:
            with zipfile.ZipFile(scratch, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                for name, path in sorted(entries):
                    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                    info.create_system = 3  # unix, so that the permissions below apply
                    info.external_attr = _FILE_MODE << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    data = path.read_bytes()
                    unzipped += len(data)
                    archive.writestr(info, data, compresslevel=6)
            scratch.close()
            _check_size(unzipped, Path(scratch.name).stat().st_size)
            os.replace(scratch.name, zip_path)
        finally:
            Path(scratch.name).unlink(missing_ok=True)


def _check_size(unzipped: int, zipped: int) -> None:
    if unzipped > UNZIPPED_LIMIT_BYTES:
        raise LayerTooLarge(
            f"the Lambda layer is {unzipped / 1e6:.0f} MB unzipped; Lambda allows"
            f" {UNZIPPED_LIMIT_BYTES / 1e6:.0f} MB for a function and its layers together."
            " Remove packages from handlers/requirements.txt (boto3 is in the runtime already)."
        )
    _progress(f"layer size: {unzipped / 1e6:.1f} MB unzipped of Lambda's 262.1 MB limit")
    if zipped > DIRECT_UPLOAD_LIMIT_BYTES:
        _progress(
            f"note: the layer zip is {zipped / 1e6:.1f} MB, above the 52.4 MB Lambda accepts"
            " in a direct upload; it must be uploaded through S3"
        )


def _prune_old_zips(cache_dir: Path, architecture: str) -> None:
    """Delete zips of earlier handler versions, keeping the recent ones that may be in use."""
    # another build may prune the same folder at the same time: a vanished file is no error
    used = {path: _mtime(path) for path in cache_dir.glob(f"reef-layer-{architecture}-*.zip")}
    cutoff = time.time() - KEEP_UNUSED_SECONDS
    for old in sorted(used, key=used.__getitem__, reverse=True)[KEEP_ZIPS:]:
        if used[old] < cutoff:
            old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _base64_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


def _progress(message: str) -> None:
    # Layer builds take tens of seconds; say what is happening on stderr, which cdktf and the
    # command line both show, and which keeps stdout clean for synthesized output.
    print(f"reef: {message}", file=sys.stderr, flush=True)
