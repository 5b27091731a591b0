"""The AWS provider and the state backend of every Reef stack in one environment."""

import os
from pathlib import Path

from cdktf import LocalBackend, S3Backend, TerraformStack
from cdktf_cdktf_provider_aws.provider import (
    AwsProvider,
    AwsProviderDefaultTags,
    AwsProviderEndpoints,
)

from generator.environments import REPOSITORY, Environment, LocalStateBackend

EMULATOR_ENDPOINT_VARIABLE = "REEF_EMULATOR_ENDPOINT"
# The services Reef's stacks create resources in, plus STS, which the provider calls
# itself. Each gets the emulator's endpoint in the local environment.
# https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/guides/custom-service-endpoints
EMULATED_SERVICES = (
    "cloudwatch",
    "dynamodb",
    "events",
    "iam",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "sts",
)
# moto accepts any credentials; these say plainly that they are not real ones.
_EMULATOR_CREDENTIAL = "test"


def emulator_endpoint(environment: Environment) -> str | None:
    """The emulator's address (REEF_EMULATOR_ENDPOINT wins), or None outside local."""
    if environment.emulator is None:
        return None
    return os.environ.get(EMULATOR_ENDPOINT_VARIABLE) or environment.emulator.endpoint


def configure_stack(
    stack: TerraformStack,
    environment: Environment,
    *,
    stack_name: str,
    connector: str | None,
    outdir: Path,
) -> AwsProvider:
    """Give a stack its backend and its AWS provider, tagged with environment and connector."""
    _backend(stack, environment, stack_name, outdir)
    tags = {"reef:environment": environment.name}
    if connector is not None:
        tags["reef:connector"] = connector
    endpoint = emulator_endpoint(environment)
    if endpoint is None:
        return AwsProvider(
            stack,
            "aws",
            region=environment.region,
            allowed_account_ids=[environment.account],
            default_tags=[AwsProviderDefaultTags(tags=tags)],
        )
    # The local environment differs only here: the same resources, created in the emulator.
    return AwsProvider(
        stack,
        "aws",
        region=environment.region,
        allowed_account_ids=[environment.account],
        default_tags=[AwsProviderDefaultTags(tags=tags)],
        access_key=_EMULATOR_CREDENTIAL,
        secret_key=_EMULATOR_CREDENTIAL,
        # The account id is still asked for (the emulator's STS answers it), because
        # allowed_account_ids cannot be checked against an account the provider skipped.
        skip_credentials_validation=True,
        skip_metadata_api_check="true",
        s3_use_path_style=True,
        endpoints=[
            AwsProviderEndpoints(
                **{_endpoint_key(service): endpoint for service in EMULATED_SERVICES}
            )
        ],
    )


def _endpoint_key(service: str) -> str:
    # "lambda" is a Python keyword, so the binding names that endpoint "lambda_".
    return "lambda_" if service == "lambda" else service


def _backend(
    stack: TerraformStack, environment: Environment, stack_name: str, outdir: Path
) -> None:
    state = environment.state
    if isinstance(state, LocalStateBackend):
        # Terraform runs in <outdir>/stacks/<stack>; a relative path keeps the synthesized
        # JSON the same on every machine that uses the same layout.
        state_file = REPOSITORY / state.path / environment.name / f"{stack_name}.tfstate"
        working_dir = outdir.resolve() / "stacks" / stack_name
        LocalBackend(stack, path=os.path.relpath(state_file, working_dir))
        return
    backend = S3Backend(
        stack,
        bucket=state.bucket,
        key=f"{state.key_prefix}/{stack_name}.tfstate",
        region=state.region or environment.region,
        encrypt=True,
        kms_key_id=state.kms_key_id,
    )
    # S3-native state locking (Terraform 1.10+), so no DynamoDB lock table is needed; the
    # cdktf 0.21 binding predates the setting.
    # https://developer.hashicorp.com/terraform/language/backend/s3#state-locking
    backend.add_override("use_lockfile", True)
