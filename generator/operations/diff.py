"""`reef diff`: a Terraform plan per stack, summarized, with an exit code pipelines gate on.

Each stack is synthesized, then in its folder under cdktf.out/stacks: `terraform init`,
`terraform plan -detailed-exitcode -out` (exit 0 no changes, 2 changes, 1 error:
https://developer.hashicorp.com/terraform/cli/commands/plan#detailed-exitcode) and
`terraform show -json` of the saved plan, whose `resource_changes[].change.actions` say
what happens to each resource address:
https://developer.hashicorp.com/terraform/internals/json-format#change-representation
A replacement counts as one add and one destroy, as Terraform's own summary counts it.
Terraform runs with the CLI configuration of generator/deploy.py (the provider mirror).

Known shortcoming, local environment only: moto reads back functions without their
dead_letter_config, queues without their policies and redrive policies re-spaced, so every
connector stack shows in-place changes right after a deploy. Fixing it means patching those
read paths in generator/local/emulator_server.py, as that file already patches two others.
"""

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAN_FILE = "reef.tfplan"
TERRAFORM = "terraform"


class DiffFailed(Exception):
    """Terraform could not plan a stack; the message has the end of its output."""


@dataclass
class StackPlan:
    """What applying one stack would do."""

    stack: str
    changed: bool = False  # Terraform's detailed exit code 2: resources or outputs change
    add: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    destroy: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "changed": self.changed,
            "add": len(self.add),
            "change": len(self.change),
            "destroy": len(self.destroy),
            "addresses": {
                "add": sorted(self.add),
                "change": sorted(self.change),
                "destroy": sorted(self.destroy),
            },
        }


def synthesize_with(variables: dict[str, str], synthesize: Callable[[], Path]) -> Path:
    """Run the in-process synthesis with `variables` set (the emulator's), then restore them."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        return synthesize()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stacks_in(stacks_dir: Path, wanted: Sequence[str]) -> list[str]:
    """The stacks to plan: the named ones (ValueError naming the unknown), else all."""
    present = sorted(child.name for child in stacks_dir.iterdir() if child.is_dir())
    unknown = [name for name in wanted if name not in present]
    if unknown:
        raise ValueError(
            f"no stack named {', '.join(unknown)}; the stacks are: {', '.join(present)}"
        )
    return list(wanted) or present


def plan_stack(stack_dir: Path, variables: dict[str, str]) -> StackPlan:
    """Init and plan one synthesized stack; DiffFailed if Terraform fails."""
    _terraform(stack_dir, variables, "init", "-input=false", "-no-color")
    planned = _terraform(
        stack_dir,
        variables,
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        "-lock=false",  # a plan writes no state; it must not wait for a running deploy
        f"-out={PLAN_FILE}",
        allowed=(0, 2),
    )
    shown = _terraform(stack_dir, variables, "show", "-json", "-no-color", PLAN_FILE)
    result = summarize(stack_dir.name, json.loads(shown.stdout))
    result.changed = planned.returncode == 2
    return result


def summarize(stack: str, plan: dict[str, Any]) -> StackPlan:
    """The adds, changes and destroys of a `terraform show -json` plan document."""
    result = StackPlan(stack)
    for resource in plan.get("resource_changes", []):
        actions = resource.get("change", {}).get("actions", [])
        address = resource["address"]
        if "create" in actions:
            result.add.append(address)
        if "delete" in actions:
            result.destroy.append(address)
        if actions == ["update"]:
            result.change.append(address)
    return result


def exit_code_of(plans: Sequence[StackPlan], changes_code: int) -> int:
    """`changes_code` when any stack changes, else 0."""
    return changes_code if any(plan.changed for plan in plans) else 0


def _terraform(
    stack_dir: Path, variables: dict[str, str], *arguments: str, allowed: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    try:
        completed = subprocess.run(
            [TERRAFORM, *arguments],
            cwd=stack_dir,
            env=variables,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise DiffFailed(
            "the Terraform CLI is not installed (https://developer.hashicorp.com/terraform/install)"
        ) from None
    if completed.returncode not in allowed:
        output = (completed.stdout[-2000:] + "\n" + completed.stderr[-3000:]).strip()
        raise DiffFailed(f"terraform {arguments[0]} of {stack_dir.name} failed:\n{output}")
    return completed
