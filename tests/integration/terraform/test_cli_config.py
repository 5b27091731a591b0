"""The Terraform CLI configuration that `deploy` writes: the provider mirror where it exists."""

from pathlib import Path

from generator.deploy import terraform_cli_config, terraform_variables
from generator.environments import load_environment


def test_a_mirror_folder_that_exists_is_used_for_every_registry_provider(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    environment = load_environment("local").model_copy(update={"provider_mirror": str(mirror)})

    text = terraform_cli_config(environment, tmp_path).read_text()

    assert f'path    = "{mirror}"' in text
    assert "filesystem_mirror" in text
    assert 'exclude = ["registry.terraform.io/*/*"]' in text


def test_without_the_mirror_folder_providers_come_from_the_registry(tmp_path):
    environment = load_environment("dev").model_copy(
        update={"provider_mirror": str(tmp_path / "absent")}
    )

    text = terraform_cli_config(environment, tmp_path).read_text()

    assert "filesystem_mirror" not in text
    assert "direct {}" in text


def test_cdktf_runs_with_the_environment_name_the_cli_config_and_no_checkpoint_calls(tmp_path):
    variables = terraform_variables(load_environment("dev"), config_folder=tmp_path)

    assert variables["REEF_ENV"] == "dev"
    assert Path(variables["TF_CLI_CONFIG_FILE"]) == tmp_path / "dev.tfrc"
    assert variables["CHECKPOINT_DISABLE"] == "1"
