"""`graph`: DOT text with every connector's resources and edges, rendered by Graphviz."""

import json
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.environments import load_environment
from generator.operations.graph import flows_dot
from generator.specs import load_specs
from main import app

runner = CliRunner()


def _local_dot() -> str:
    return flows_dot(load_environment("local"), load_specs())


def test_the_dot_text_names_every_connectors_resources() -> None:
    dot = _local_dot()

    for name in ("shop-orders", "billing-replica", "crm-salesforce"):
        for resource in (
            "schedule",
            "scheduler",
            "scheduled",
            "extract",
            "extract-dlq",
            "extract-fn",
            "extracted",
            "load",
            "load-dlq",
            "load-fn",
            "loaded",
        ):
            assert f'"{name}-{resource}"' in dot, (name, resource)
    for resource in ("stream", "stream-fn", "stream-failures", "load-dlq"):
        assert f'"app-events-{resource}"' in dot
    assert '"app-events-scheduled"' not in dot  # a stream source has no scheduled topic
    assert '"reef-local-staging-123456789012"' in dot
    assert '"reef-local-bookkeeping"' in dot


def test_the_dot_text_has_the_edges_messages_take() -> None:
    dot = _local_dot()

    assert '"shop-orders-scheduler" -> "shop-orders-scheduled"' in dot
    assert '"shop-orders-scheduled" -> "shop-orders-extract"' in dot
    assert '"shop-orders-extract-fn" -> "shop-orders-extract" [label="continuation"]' in dot
    assert '"shop-orders-extract-fn" -> "reef-local-staging-123456789012"' in dot
    assert '"shop-orders-extracted" -> "shop-orders-load"' in dot
    assert '"app-events-stream" -> "app-events-stream-fn"' in dot
    assert '"app-events-scheduler" -> "app-events-extracted"' in dot
    assert '"shop-orders-load-fn" -> "warehouse Redshift analytics / analytics"' in dot


def test_the_dot_text_is_the_same_every_time() -> None:
    assert _local_dot() == _local_dot()


def test_a_schedule_turned_off_by_an_override_says_so() -> None:
    dot = flows_dot(load_environment("dev"), load_specs())

    assert "cron(0 * * * ? *)\\n(off here)" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graph_renders_a_valid_svg_and_a_png(tmp_path: Path) -> None:
    out = tmp_path / "flows.svg"

    result = runner.invoke(app, ["graph", "--env", "local", "--out", str(out), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == [str(out), str(tmp_path / "flows.png")]
    root = ElementTree.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {title.text for title in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"shop-orders-extract-dlq", "app-events-stream", "reef-local-bookkeeping"} <= titles
    assert (tmp_path / "flows.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_without_dot_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = runner.invoke(app, ["graph", "--out", str(tmp_path / "x.svg")])

    assert result.exit_code == 1
    assert "Graphviz's `dot` is not installed" in result.stderr


def test_graph_of_an_unknown_environment_exits_2() -> None:
    result = runner.invoke(app, ["graph", "--env", "nowhere", "--dot"])

    assert result.exit_code == 2
    assert "no such environment" in result.stderr
