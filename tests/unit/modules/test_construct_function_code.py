"""The placeholder function package is the same bytes on every run."""

import base64
import hashlib
import zipfile

from modules.function import write_placeholder_code


def test_the_function_package_is_byte_identical_across_runs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_placeholder_code(tmp_path / "a")
    second = write_placeholder_code(tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256


def test_the_hash_is_lambdas_base64_sha256_of_the_zip(tmp_path):
    code = write_placeholder_code(tmp_path)
    digest = hashlib.sha256(code.path.read_bytes()).digest()
    assert code.sha256 == base64.b64encode(digest).decode()
    with zipfile.ZipFile(code.path) as archive:
        names = archive.namelist()
    assert names == ["reef_function.py"]  # nothing that could shadow the layer's handlers
