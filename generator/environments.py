"""Environments: where a set of connectors is deployed, and how, one YAML file each."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from generator.errors import InvalidInput, Problem
from generator.yaml_documents import line_of, load_yaml_model, read_field_lines
from handlers.contracts.identifiers import ConnectorName
from handlers.contracts.schedule import parse_schedule
from handlers.contracts.spec import ConnectorSpec, LambdaSettings, StrictModel

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_PROVIDER_MIRROR = "/opt/tf-plugins"


class LocalStateBackend(StrictModel):
    """Terraform state in files beside the synthesized stacks (laptops, the local emulator)."""

    type: Literal["local"]
    path: str = Field("terraform-state", description="folder for state files, under the repo")


class S3StateBackend(StrictModel):
    """Terraform state in S3 with S3-native locking, for shared environments."""

    type: Literal["s3"]
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key_prefix: str = Field("reef", pattern=r"^[A-Za-z0-9/_.-]+$")
    region: str | None = None
    kms_key_id: str | None = Field(None, description="KMS key for the state objects")


class Networking(StrictModel):
    """The VPC placement of functions that reach databases."""

    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _both_or_neither(self) -> "Networking":
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            raise ValueError("name both subnet_ids and security_group_ids, or neither")
        return self


class LambdaDefaults(StrictModel):
    """Defaults for every function of the environment; specs and overrides refine them."""

    architecture: Literal["arm64", "x86_64"] = "arm64"
    memory: int = Field(512, ge=128, le=10240)
    timeout: int = Field(300, ge=30, le=900)
    concurrency: int = Field(5, ge=1, le=1000)
    log_retention_days: Literal[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653
    ] = 365


class ConnectorOverride(StrictModel):
    """Per-connector changes in one environment."""

    schedule_enabled: bool | None = Field(None, description="false turns the schedule off")
    schedule: str | None = None
    lambda_: LambdaSettings | None = Field(None, alias="lambda")

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value


class LocalEmulator(StrictModel):
    """The AWS emulator of the local environment (moto server on 127.0.0.1)."""

    endpoint: str = Field(
        "http://127.0.0.1:4566",
        pattern=r"^http://(127\.0\.0\.1|localhost):\d{2,5}$",
        description="moto server's address; REEF_EMULATOR_ENDPOINT overrides it",
    )


class Environment(StrictModel):
    """An AWS account and region, and the settings of the stacks deployed there."""

    name: ConnectorName
    account: str = Field(pattern=r"^\d{12}$", description="12-digit AWS account id")
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="such as eu-west-1")
    state: LocalStateBackend | S3StateBackend = Field(discriminator="type")
    networking: Networking = Field(default_factory=Networking)  # type: ignore[arg-type]
    lambda_: LambdaDefaults = Field(
        default_factory=LambdaDefaults,
        alias="lambda",  # type: ignore[arg-type]
    )
    staging_expiry_days: int = Field(7, ge=1, le=365, description="staged files expire after")
    quarantine_expiry_days: int = Field(
        30, ge=1, le=3650, description="quarantined stream records expire after"
    )
    bookkeeping_ttl_days: int = Field(90, ge=7, le=3650, description="ledger items expire after")
    redshift_slices: int = Field(2, ge=1, le=1024, description="files per batch are a multiple")
    alarm_emails: list[str] = Field(default_factory=list)
    provider_mirror: str = Field(
        DEFAULT_PROVIDER_MIRROR,
        description="filesystem mirror of Terraform providers, used where it exists",
    )
    emulator: LocalEmulator | None = Field(
        None, description="set only for the local environment: deploy into the emulator"
    )
    overrides: dict[ConnectorName, ConnectorOverride] = Field(default_factory=dict)

    def lambda_settings(self, spec: ConnectorSpec) -> LambdaDefaults:
        """The function settings of a connector here: defaults, then spec, then override."""
        settings = self.lambda_.model_dump()
        override = self.overrides.get(spec.name)
        for layer in (spec.lambda_, override.lambda_ if override else None):
            if layer is not None:
                settings.update(layer.model_dump(exclude_none=True))
        return LambdaDefaults.model_validate(settings)

    def schedule_enabled(self, connector: str) -> bool:
        override = self.overrides.get(connector)
        return override is None or override.schedule_enabled is not False


def environments_dir() -> Path:
    return Path(os.environ.get("REEF_ENVIRONMENTS_DIR") or REPOSITORY / "environments")


def load_environment(name: str) -> Environment:
    """The environment named, from environments/<name>.yaml."""
    path = environments_dir() / f"{name}.yaml"
    if not path.exists():
        known = sorted(child.stem for child in environments_dir().glob("*.yaml"))
        raise InvalidInput(
            [Problem(path, 1, "", f"no such environment; expected one of: {', '.join(known)}")]
        )
    environment = load_yaml_model(path, Environment)
    if environment.name != name:
        line = read_field_lines(path).get(("name",), 1)
        raise InvalidInput(
            [Problem(path, line, "name", f"is {environment.name!r} but the file is {name}.yaml")]
        )
    return environment


def check_overrides(environment: Environment, specs: dict[str, ConnectorSpec]) -> None:
    """Overrides must name known connectors; each unknown one is reported at its line."""
    unknown = sorted(name for name in environment.overrides if name not in specs)
    if not unknown:
        return
    path = environments_dir() / f"{environment.name}.yaml"
    lines = read_field_lines(path)
    expected = ", ".join(sorted(specs)) or "(no connectors are defined)"
    raise InvalidInput(
        [
            Problem(
                path,
                line_of(lines, ("overrides", name)),
                f"overrides.{name}",
                f"no connector named {name!r}; expected one of: {expected}",
            )
            for name in unknown
        ]
    )
