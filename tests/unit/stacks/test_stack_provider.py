"""Where the provider sends API calls: AWS, or the emulator of the local environment."""

from generator.environments import load_environment
from generator.provider import emulator_endpoint


def test_the_local_environment_uses_its_emulator_endpoint(monkeypatch):
    monkeypatch.delenv("REEF_EMULATOR_ENDPOINT", raising=False)
    assert emulator_endpoint(load_environment("local")) == "http://127.0.0.1:4566"


def test_reef_emulator_endpoint_overrides_the_environment_file(monkeypatch):
    monkeypatch.setenv("REEF_EMULATOR_ENDPOINT", "http://127.0.0.1:5999")
    assert emulator_endpoint(load_environment("local")) == "http://127.0.0.1:5999"


def test_shared_environments_have_no_emulator_even_when_the_variable_is_set(monkeypatch):
    monkeypatch.setenv("REEF_EMULATOR_ENDPOINT", "http://127.0.0.1:5999")
    assert emulator_endpoint(load_environment("dev")) is None
