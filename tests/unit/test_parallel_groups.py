"""The suite runs on two workers with `--dist loadgroup` (Makefile): tests marked with one
xdist_group must share a worker, or each worker sets up the group's session fixtures (the
local stacks deployed with Terraform, several minutes) again. Some pytest and pytest-xdist
releases stop grouping without a word (pytest-dev/pytest-xdist#1386); this runs a small
session with the installed ones and checks where its tests ran."""

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


def test_first():
    print("ran on", os.environ["PYTEST_XDIST_WORKER"])


def test_second():
    print("ran on", os.environ["PYTEST_XDIST_WORKER"])
"""

UNGROUPED = """
def test_alone():
    pass
"""


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path: Path) -> None:
    for number in range(3):
        (tmp_path / f"test_grouped_{number}.py").write_text(GROUPED)
    (tmp_path / "test_ungrouped.py").write_text(UNGROUPED)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-rA", "-p",
         "no:cacheprovider", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    workers = {line.split()[-1] for line in result.stdout.splitlines() if "ran on gw" in line}
    assert len(workers) == 1, result.stdout
    assert result.stdout.count("ran on gw") == 6
