"""`local up`, `local env` and `local down`: start, reach and stop the local environment."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.local.emulator import answers, process_alive
from generator.local.postgres import PostgresServer, free_port
from main import app

pytestmark = pytest.mark.slow


@pytest.fixture
def local_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local environment folder of its own, and an emulator port of its own."""
    folder = Path(tempfile.mkdtemp(prefix="reef-local-"))
    os.chmod(folder, 0o755)  # PostgreSQL runs as the postgres user under root
    monkeypatch.setenv("REEF_LOCAL_DIR", str(folder))
    monkeypatch.setenv("REEF_EMULATOR_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    yield folder
    CliRunner().invoke(app, ["local", "down"])
    shutil.rmtree(folder, ignore_errors=True)


def test_local_up_starts_both_servers_once_and_local_down_stops_them_keeping_the_data(local_dir):
    runner = CliRunner()

    first = runner.invoke(app, ["local", "up"])
    state = json.loads((local_dir / "state.json").read_text())
    second = runner.invoke(app, ["local", "up"])
    exports = runner.invoke(app, ["local", "env"])

    assert first.exit_code == 0, first.output
    assert answers(state["emulator"]["endpoint"])
    assert process_alive(state["postgres"]["pid"])
    assert second.exit_code == 0, second.output
    assert "already running" in second.output
    assert json.loads((local_dir / "state.json").read_text()) == state
    assert f"export AWS_ENDPOINT_URL='{state['emulator']['endpoint']}'" in exports.output
    assert f"export REEF_LOCAL_PG_DSN='{state['postgres']['dsn']}'" in exports.output

    down = runner.invoke(app, ["local", "down"])

    assert down.exit_code == 0, down.output
    assert not answers(state["emulator"]["endpoint"])
    assert not PostgresServer(
        Path(state["postgres"]["data_dir"]), state["postgres"]["port"]
    ).is_running()
    assert (local_dir / "postgres" / "PG_VERSION").exists()


def test_local_commands_say_to_run_local_up_when_nothing_is_running(local_dir):
    runner = CliRunner()

    exports = runner.invoke(app, ["local", "env"])
    deploy = runner.invoke(app, ["deploy", "--env", "local"])
    trigger = runner.invoke(app, ["trigger", "billing-replica"])

    for result in (exports, deploy, trigger):
        assert result.exit_code == 1
        assert "python main.py local up" in result.output


def test_trigger_refuses_a_timelabel_that_is_not_iso_8601(local_dir):
    result = CliRunner().invoke(app, ["trigger", "billing-replica", "--timelabel", "noon"])

    assert result.exit_code == 2
    assert "ISO 8601" in result.output
