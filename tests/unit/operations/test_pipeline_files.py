"""The GitHub Actions workflow passes actionlint; the pre-commit hooks are all local."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[3]
WORKFLOW = REPOSITORY / ".github" / "workflows" / "reef.yml"
ACTIONLINT = REPOSITORY / ".venv" / "bin" / "actionlint"


def _actionlint() -> str:
    found = str(ACTIONLINT) if ACTIONLINT.exists() else shutil.which("actionlint")
    if found is None:
        pytest.skip("actionlint is not installed; `make setup` installs it from requirements-dev")
    return found


def test_actionlint_accepts_the_workflow() -> None:
    result = subprocess.run(
        [_actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1))

    result = subprocess.run(
        [_actionlint(), "-no-color", str(broken)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 1


def test_deploys_use_oidc_and_run_dev_before_prod() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]

    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    for name in ("deploy-dev", "deploy-prod", "plan"):
        assert jobs[name]["permissions"]["id-token"] == "write"
        credentials = [
            s for s in jobs[name]["steps"] if "configure-aws-credentials" in s.get("uses", "")
        ]
        assert "role-to-assume" in credentials[0]["with"]
    assert jobs["deploy-dev"]["environment"] == "dev"
    assert jobs["deploy-prod"]["environment"] == "prod"


def test_every_action_is_pinned_to_a_version() -> None:
    text = WORKFLOW.read_text()
    uses = [line.split("uses:")[1].strip() for line in text.splitlines() if "uses:" in line]

    assert uses
    assert all("@v" in action for action in uses), uses


def test_pre_commit_hooks_are_local_and_use_the_repositorys_venv() -> None:
    config = yaml.safe_load((REPOSITORY / ".pre-commit-config.yaml").read_text())

    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["id"] for hook in hooks} >= {"ruff-check", "ruff-format", "spec-schema"}
    assert all(hook["entry"].startswith(".venv/bin/") for hook in hooks)


def test_every_pre_commit_hook_passes_on_the_repository() -> None:
    pre_commit = REPOSITORY / ".venv" / "bin" / "pre-commit"
    if not pre_commit.exists() or not (REPOSITORY / ".git").exists():
        pytest.skip("needs `make setup` (.venv/bin/pre-commit) and a git checkout")

    result = subprocess.run(
        [str(pre_commit), "run", "--all-files", "--color", "never"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Passed") == 5, result.stdout
