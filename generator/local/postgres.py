"""A throwaway PostgreSQL server for the local environment and the tests.

It runs the machine's own `initdb` and `pg_ctl` into a folder, listens only on 127.0.0.1,
and trusts local connections: it holds sample data, never anything real. PostgreSQL refuses
to run as root, so under root the server runs as the `postgres` system user.
"""

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "reef"
SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed where Reef looks for them."""


def find_pg_bin() -> Path:
    """The folder with initdb and pg_ctl: REEF_PG_BIN, PATH, or /usr/lib/postgresql/*/bin."""
    candidates = [os.environ.get("REEF_PG_BIN", "")]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL 15"
        " (apt-get install postgresql-15) or set REEF_PG_BIN to their folder"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One server in `data_dir`, on `port` of 127.0.0.1."""

    data_dir: Path
    port: int

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def start(self) -> None:
        """Create the cluster on first use, then start it; a running server is left as is."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            return
        self._pg_ctl(
            "start",
            "--wait",
            "--log",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.data_dir} -c fsync=off",
        )

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("stop", "--wait", "--mode", "fast")

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        status = subprocess.run(
            self._as_server_user(
                [str(find_pg_bin() / "pg_ctl"), "status", "-D", str(self.data_dir)]
            ),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_to_server_user(self.data_dir)
        command = [
            str(find_pg_bin() / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        subprocess.run(self._as_server_user(command), check=True, capture_output=True)

    def _pg_ctl(self, *arguments: str) -> None:
        command = [str(find_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), *arguments]
        subprocess.run(self._as_server_user(command), check=True, capture_output=True)

    @staticmethod
    def _as_server_user(command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["runuser", "-u", SERVER_USER, "--", *command]

    @staticmethod
    def _hand_to_server_user(data_dir: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(data_dir, user=SERVER_USER, group=SERVER_USER)
