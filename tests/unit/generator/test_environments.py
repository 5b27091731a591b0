"""Environment files: the examples load, and mistakes are reported with their file and line."""

from pathlib import Path

import pytest

from generator.environments import check_overrides, load_environment
from generator.errors import InvalidInput
from generator.specs import load_specs

REPOSITORY = Path(__file__).resolve().parents[3]
SAMPLES = REPOSITORY / "tests" / "samples" / "environments"


@pytest.fixture
def sample_environments(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REEF_ENVIRONMENTS_DIR", str(SAMPLES))
    return SAMPLES


def problems_of_environment(name: str) -> list[str]:
    with pytest.raises(InvalidInput) as raised:
        load_environment(name)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize("name", ["local", "dev", "prod"])
def test_every_example_environment_loads_and_fits_the_example_specs(name: str) -> None:
    environment = load_environment(name)

    check_overrides(environment, load_specs())
    assert environment.name == name


def test_the_local_environment_deploys_into_the_emulator_on_x86_64() -> None:
    local = load_environment("local")

    assert local.emulator is not None
    assert local.emulator.endpoint == "http://127.0.0.1:4566"
    assert local.lambda_.architecture == "x86_64"
    assert local.state.type == "local"


def test_shared_environments_keep_state_in_s3_and_run_in_a_vpc() -> None:
    for name in ("dev", "prod"):
        environment = load_environment(name)

        assert environment.state.type == "s3"
        assert environment.networking.subnet_ids
        assert environment.emulator is None


def test_function_settings_layer_defaults_then_spec_then_override() -> None:
    specs = load_specs()
    prod = load_environment("prod")

    shop = prod.lambda_settings(specs["shop-orders"])
    crm = prod.lambda_settings(specs["crm-salesforce"])

    assert (shop.memory, shop.timeout) == (2048, 600)  # override, then spec
    assert (crm.memory, crm.timeout) == (1024, 300)  # environment defaults


def test_an_override_can_turn_a_schedule_off() -> None:
    dev = load_environment("dev")

    assert not dev.schedule_enabled("crm-salesforce")
    assert dev.schedule_enabled("shop-orders")


def test_an_unknown_key_is_reported_with_its_file_and_line(sample_environments: Path) -> None:
    path = sample_environments / "unknown-key.yaml"

    problems = problems_of_environment("unknown-key")

    assert problems == [
        f"{path}:9: lambda.memroy: unknown key; did you mean 'memory'? expected one of:"
        " architecture, memory, timeout, concurrency, log_retention_days"
    ]


def test_an_override_of_an_unknown_connector_is_reported_at_its_line(
    sample_environments: Path,
) -> None:
    path = sample_environments / "unknown-override.yaml"
    environment = load_environment("unknown-override")

    with pytest.raises(InvalidInput) as raised:
        check_overrides(environment, load_specs([REPOSITORY / "connectors"]))

    assert [str(problem) for problem in raised.value.problems] == [
        f"{path}:10: overrides.shop-ordres: no connector named 'shop-ordres'; expected one of:"
        " app-events, billing-replica, crm-salesforce, shop-orders"
    ]


def test_a_file_that_names_another_environment_is_reported_at_its_name(
    sample_environments: Path,
) -> None:
    path = sample_environments / "misnamed.yaml"

    assert problems_of_environment("misnamed") == [
        f"{path}:3: name: is 'staging' but the file is misnamed.yaml"
    ]


def test_an_unknown_environment_lists_the_known_ones(sample_environments: Path) -> None:
    problems = problems_of_environment("staging")

    assert problems == [
        f"{sample_environments}/staging.yaml:1: no such environment; expected one of:"
        " misnamed, unknown-key, unknown-override"
    ]
