"""A whole batch through the real handlers, driven like Lambda's pollers would drive them."""

import io
import json
import logging

from handlers.bookkeeping import BatchState, open_ledger
from handlers.observability import logger
from tests.fakes.driver import Driver
from tests.fakes.flow import CONNECTOR, UNIT, Flow


def test_a_tick_moves_every_source_row_into_the_warehouse_once(flow: Flow, driver: Driver) -> None:
    flow.source.upsert(range(1, 11))

    driver.tick("2024-05-01T10:07:13Z")
    driver.run_until_idle()

    ids = sorted(int(row[0]) for row in flow.warehouse.tables[UNIT])
    assert ids == list(range(1, 11))
    batch = open_ledger().latest_batches(CONNECTOR, UNIT, 1)[0]
    assert batch.state is BatchState.LOADED
    assert batch.timelabel == "2024-05-01T10:00:00Z"
    assert batch.rows == 10
    assert open_ledger().watermark(CONNECTOR, UNIT).value == "10"


def test_the_freshness_metric_is_published_with_the_connector_as_its_only_dimension(
    flow: Flow, driver: Driver, capsys
) -> None:
    flow.source.upsert(range(1, 4))
    driver.tick("2024-05-01T10:07:13Z")
    driver.run_until_idle()
    capsys.readouterr()

    driver.tick("2024-05-01T10:22:13Z")  # the scheduler reports the lag on every tick

    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    [freshness] = [m for m in metrics if "FreshnessLagSeconds" in m]
    assert freshness["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Reef"
    assert freshness["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["connector"]]
    assert freshness["connector"] == CONNECTOR
    assert all(lag > 0 for lag in freshness["FreshnessLagSeconds"])


def test_every_log_line_about_a_batch_carries_its_trace_context(flow: Flow, driver: Driver) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        flow.source.upsert(range(1, 4))
        driver.tick("2024-05-01T10:07:13Z")
        driver.run_until_idle()
    finally:
        logging.getLogger(logger.name).removeHandler(handler)

    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    about_batches = [line for line in logged if "batch_id" in line]
    assert {line["message"] for line in about_batches} >= {
        "batch scheduled",
        "chunk extracted",
        "batch extracted",
        "batch loaded",
    }
    for line in about_batches:
        assert {"connector", "unit", "timelabel", "batch_id", "chunk", "attempt"} <= set(line)
        assert "v1-1" not in json.dumps(line)  # no row data in logs
