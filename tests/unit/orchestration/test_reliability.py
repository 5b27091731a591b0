"""Reliability: kill the runtime at every step boundary in turn, deliver every message twice.

Each scenario deploys a fresh flow, runs two ticks (an initial batch and an incremental one)
with one kill at the n-th step boundary reached and every message delivered twice, then runs
to idle. The warehouse is in append mode, so a row loaded twice would show up twice: every
source row must be there exactly once, in every scenario.
"""

from collections import Counter

import pytest
from moto import mock_aws

from handlers.bookkeeping import BatchState, open_ledger
from handlers.orchestration import load
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, UNIT, deploy_flow, undeploy_flow

TICKS = ("2024-05-01T10:00:05Z", "2024-05-01T10:15:05Z")


def run_scenario(monkeypatch: pytest.MonkeyPatch, kill_at: int | None) -> Driver:
    """Two ticks with rows added between them; the driver, after the flow went idle."""
    with mock_aws():
        flow = deploy_flow(monkeypatch)
        flow.source.chunk_rows = 3
        flow.source.chunk_ms = 8_000  # with a 30 s timeout, a continuation every 2 chunks
        driver = Driver(flow, kill_at=kill_at, duplicates=True)
        try:
            flow.source.upsert(range(1, 8))
            driver.tick(TICKS[0])
            driver.run_until_idle()
            flow.source.upsert(range(8, 12))
            driver.tick(TICKS[1])
            driver.run_until_idle()
            assert_exactly_once(flow.warehouse.tables.get(UNIT, []), range(1, 12))
            batches = open_ledger().latest_batches(CONNECTOR, UNIT, 5)
            assert [batch.state for batch in batches] == [BatchState.LOADED] * 2
            assert open_ledger().watermark(CONNECTOR, UNIT).value == "11"
            assert flow.messages(flow.dead_letter_queues["extract"]) == []
            assert flow.messages(flow.dead_letter_queues["load"]) == []
        finally:
            driver.close()
            undeploy_flow()
    return driver


def assert_exactly_once(rows: list[list[str]], expected: range) -> None:
    counts = Counter(int(row[0]) for row in rows)
    doubled = sorted(row_id for row_id, seen in counts.items() if seen > 1)
    missing = sorted(set(expected) - set(counts))
    assert not doubled and not missing, f"doubled rows {doubled}, missing rows {missing}"


@pytest.mark.slow
def test_every_row_arrives_exactly_once_whatever_step_the_runtime_dies_at(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(load, "WAIT_SECONDS", 0)
    baseline = run_scenario(monkeypatch, kill_at=None)
    boundaries = len(baseline.boundaries)
    assert boundaries > 20  # the scenario passes through every kind of step

    killed_at: list[str] = []
    for kill_at in range(1, boundaries + 1):
        driver = run_scenario(monkeypatch, kill_at)
        killed_at.extend(driver.kills)

    assert len(killed_at) == boundaries
    kinds = Counter(killed_at)
    with capsys.disabled():
        print(f"\nreliability: {boundaries + 1} scenarios ran (one without a kill), all exact;")
        for boundary, times in sorted(kinds.items()):
            print(f"  killed {times:3d}x at {boundary}")
