"""`deploy`: run the repository's pinned cdktf-cli against one environment's stacks.

Terraform installs providers from a filesystem mirror where the environment's
`provider_mirror` folder exists (there is no registry access on some machines), and from the
registry otherwise. The CLI configuration that says so is written under .reef/ and given to
Terraform through TF_CLI_CONFIG_FILE:
https://developer.hashicorp.com/terraform/cli/config/config-file#provider-installation
"""

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from generator.environments import REPOSITORY, Environment

CDKTF = REPOSITORY / "node_modules" / ".bin" / "cdktf"
TERRAFORM_DIR = REPOSITORY / ".reef" / "terraform"


class DeployError(Exception):
    """`cdktf deploy` could not run, or exited with an error (its own output says why)."""


def terraform_cli_config(environment: Environment, folder: Path = TERRAFORM_DIR) -> Path:
    """Write the Terraform CLI configuration for `environment` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    mirror = Path(environment.provider_mirror)
    if mirror.is_dir():
        installation = (
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f'    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/*/*"]\n'
            "  }\n"
            "  direct {\n"
            '    exclude = ["registry.terraform.io/*/*"]\n'
            "  }\n"
            "}\n"
        )
    else:
        installation = "provider_installation {\n  direct {}\n}\n"
    path = folder / f"{environment.name}.tfrc"
    path.write_text(f"# Written by `python main.py deploy`; do not edit.\n{installation}")
    return path


def terraform_variables(
    environment: Environment,
    extra: dict[str, str] | None = None,
    config_folder: Path = TERRAFORM_DIR,
) -> dict[str, str]:
    """The process environment of Terraform and cdktf for `environment`."""
    variables = {
        **os.environ,
        "REEF_ENV": environment.name,
        "TF_CLI_CONFIG_FILE": str(terraform_cli_config(environment, config_folder)),
        "CHECKPOINT_DISABLE": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    }
    variables.update(extra or {})
    return variables


def deploy(
    environment: Environment, stacks: Sequence[str], extra_env: dict[str, str] | None = None
) -> None:
    """Deploy the named stacks (all when none are named) with `cdktf deploy --auto-approve`."""
    if not CDKTF.exists():
        raise DeployError(f"{CDKTF} is missing; run `make setup` to install the pinned cdktf-cli")
    command = [
        str(CDKTF),
        "deploy",
        *(stacks or ["*"]),
        "--auto-approve",
        # `terraform providers lock` asks the registry even when a mirror is configured
        "--skip-provider-lock",
    ]
    if stacks:
        # a named connector stack deploys alone; the core stack it reads is already deployed
        command.append("--ignore-missing-stack-dependencies")
    completed = subprocess.run(
        command, cwd=REPOSITORY, env=terraform_variables(environment, extra_env), check=False
    )
    if completed.returncode != 0:
        raise DeployError(f"cdktf deploy failed (exit code {completed.returncode}); see above")
