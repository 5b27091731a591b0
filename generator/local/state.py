"""Where the local environment's servers are: `.reef/local/state.json`, written by `local up`.

Every other local command reads this file to reach the emulator and the throwaway
PostgreSQL server, so that ports and process ids are decided in one place.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from generator.environments import REPOSITORY

# The test credentials the emulator accepts; moto ignores their values.
TEST_ACCESS_KEY_ID = "test"
TEST_SECRET_ACCESS_KEY = "test"  # noqa: S105 - a fixed dummy value, never a real secret


def local_dir() -> Path:
    """The folder of the local environment's files: REEF_LOCAL_DIR or .reef/local."""
    return Path(os.environ.get("REEF_LOCAL_DIR") or REPOSITORY / ".reef" / "local")


@dataclass
class EmulatorState:
    """The moto server process and the address it answers on."""

    pid: int
    endpoint: str
    port: int
    log: str


@dataclass
class PostgresState:
    """The throwaway PostgreSQL server: its folder, port and superuser DSN."""

    pid: int
    port: int
    data_dir: str
    dsn: str


@dataclass
class LocalState:
    """What `local up` started, and where to reach it."""

    region: str
    account: str
    emulator: EmulatorState
    postgres: PostgresState

    def save(self, path: Path | None = None) -> None:
        path = path or state_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    def aws_variables(self) -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI and Terraform at the emulator."""
        return emulator_variables(self.emulator.endpoint, self.region)


def emulator_variables(endpoint: str, region: str) -> dict[str, str]:
    """Test credentials, the region and AWS_ENDPOINT_URL, which boto3 and the AWS CLI honour."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_ACCESS_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def state_path() -> Path:
    return local_dir() / "state.json"


def load_state(path: Path | None = None) -> LocalState | None:
    """The state `local up` wrote, or None when it has not run (or `local down --purge` did)."""
    path = path or state_path()
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return LocalState(
        region=raw["region"],
        account=raw["account"],
        emulator=EmulatorState(**raw["emulator"]),
        postgres=PostgresState(**raw["postgres"]),
    )
