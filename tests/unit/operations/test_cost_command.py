"""`cost`: the monthly estimate's arithmetic on a small case, and its JSON shape."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.environments import load_environment
from generator.operations.cost import estimate, load_prices, ticks_per_month
from generator.yaml_documents import load_yaml_model
from handlers.contracts.spec import ConnectorSpec
from main import app

SAMPLES = Path(__file__).resolve().parent / "samples"
runner = CliRunner()


@pytest.mark.parametrize(
    ("expression", "ticks"),
    [
        ("rate(1 hour)", 730),
        ("rate(15 minutes)", 2920),
        ("cron(0 * * * ? *)", 730),
        ("cron(0 3 * * ? *)", 730 / 24),
        ("cron(0/30 8-17 ? * MON-FRI *)", 20 * 5 / 7 * 730 / 24),
    ],
)
def test_ticks_per_month_follow_the_schedule(expression: str, ticks: float) -> None:
    assert ticks_per_month(expression) == pytest.approx(ticks)


def test_a_small_postgres_connector_costs_what_the_arithmetic_says() -> None:
    # one table, hourly, 730,000 rows a day of 100 bytes: 1,000 rows (100 kB) per batch,
    # one chunk, one extract invocation, on local's x86_64 512 MB functions
    spec = load_yaml_model(SAMPLES / "small-postgres.yaml", ConnectorSpec)
    environment = load_environment("local")

    result = estimate(spec, environment, rows_per_day=24_000, row_bytes=100)
    lines = {line.item: line for line in result.lines}

    assert result.ticks_per_month == 730
    # scheduler 0.5 s + 0.2 s per unit; extract 0.5 s + 100 kB / (5 MB/s * 512/1769 vCPU)
    extract_seconds = 0.5 + 100 * 24_000 / 24 / (5_000_000 * 512 / 1769)
    assert lines["extract GB-seconds"].quantity == pytest.approx(730 * extract_seconds / 2, 0.01)
    assert lines["scheduler GB-seconds"].quantity == pytest.approx(730 * 0.7 / 2, 0.01)
    assert lines["requests"].quantity == 730 * 3  # scheduler, extract, load
    assert lines["publishes"].quantity == 730 * 3  # scheduled, extracted, loaded
    assert lines["publishes"].monthly_usd == pytest.approx(2190 / 1e6 * 0.50, abs=1e-4)
    assert lines["message requests"].quantity == 730 * 2 * 3  # extract and load messages
    assert lines["idle long polls"].quantity == 2 * 15 * 60 * 730
    assert lines["PUT requests"].quantity == 730 * 2  # one chunk object, one manifest
    assert lines["GET requests"].quantity == 730 * 2
    assert lines["book-keeping writes"].quantity == 730 * 7  # 5 states, 1 chunk, watermark
    assert result.total_usd == pytest.approx(sum(line.monthly_usd for line in result.lines), 0.01)


def test_a_kinesis_connector_pays_stream_hours_and_data() -> None:
    spec = load_yaml_model(SAMPLES / "small-kinesis.yaml", ConnectorSpec)

    result = estimate(spec, load_environment("local"), rows_per_day=1_000, row_bytes=1500)
    lines = {line.item: line for line in result.lines}

    assert lines["on-demand stream hours"].quantity == 730
    assert lines["on-demand stream hours"].monthly_usd == pytest.approx(730 * 0.04)
    # records round up to whole KB when ingested: 1,500 bytes count as 2 KB
    assert lines["data in"].quantity == pytest.approx(round(1000 * 730 / 24 * 2048 / 1024**3, 2))


def test_every_price_names_its_source_and_the_table_is_dated() -> None:
    table = load_prices()

    assert table["region"] == "us-east-1"
    assert str(table["read_on"]) >= "2026-01-01"
    for key, price in table["prices"].items():
        assert price["source"].startswith("https://"), key
        assert price["checked"] in {"page", "secondary", "recalled"}, key


def test_cost_json_is_sorted_and_has_every_line() -> None:
    result = runner.invoke(
        app, ["cost", "shop-orders", "--rows-per-day", "100000", "--env", "dev", "--json"]
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert result.stdout.strip() == json.dumps(data, indent=2, sort_keys=True)
    assert {"connector", "environment", "lines", "total_usd", "prices_read_on"} <= set(data)
    assert data["lambda_architecture"] == "arm64"
    services = {line["service"] for line in data["lines"]}
    assert services == {"Lambda", "SQS", "SNS", "S3", "DynamoDB", "Redshift"}
    assert set(data["lines"][0]) == {
        "service",
        "item",
        "quantity",
        "unit",
        "unit_price",
        "monthly_usd",
        "note",
    }


def test_cost_of_an_unknown_connector_exits_2() -> None:
    result = runner.invoke(app, ["cost", "no-such", "--rows-per-day", "10"])

    assert result.exit_code == 2
    assert "no connector named 'no-such'" in result.stderr


def test_cost_prints_a_plain_table_and_the_total_when_piped() -> None:
    result = runner.invoke(app, ["cost", "app-events", "--rows-per-day", "100000"])

    assert result.exit_code == 0, result.output
    first, *_, last = result.stdout.strip().splitlines()
    assert first.split("\t")[:3] == ["service", "item", "quantity"]
    assert last.startswith("total\t")
    assert "prices change" in result.stderr
