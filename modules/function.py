"""A Reef Lambda function: its role, log group and the function itself, code from the layer."""

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from constructs import Construct

from modules.iam import Condition, Grant, service_role
from modules.layer import RUNTIME

# Every function's code is in the shared layer; Lambda still wants a package of its own.
_PLACEHOLDER_NAME = "reef_function.py"
_PLACEHOLDER_TEXT = b'"""Reef functions run handler code from the shared layer."""\n'
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class FunctionCode:
    """A code package on disk and its base64 SHA-256 (Lambda's source_code_hash)."""

    path: Path
    sha256: str


def write_placeholder_code(folder: Path) -> FunctionCode:
    """Write the tiny function package, byte-identical on every run, into `folder`."""
    path = folder / "function-code.zip"
    entry = zipfile.ZipInfo(_PLACEHOLDER_NAME, date_time=_ZIP_EPOCH)
    entry.external_attr = 0o644 << 16
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(entry, _PLACEHOLDER_TEXT)
    digest = hashlib.sha256(path.read_bytes()).digest()
    return FunctionCode(path, base64.b64encode(digest).decode("ascii"))


@dataclass(frozen=True)
class FunctionSettings:
    """The resolved settings of one function in one environment."""

    architecture: str
    memory: int
    timeout: int
    concurrency: int
    log_retention_days: int


@dataclass(frozen=True)
class Placement:
    """The VPC subnets and security groups of a function that reaches a database."""

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


class CodeAsset(Construct):
    """The function package, copied once into the stack that uses it."""

    def __init__(self, scope: Construct, construct_id: str, *, code: FunctionCode) -> None:
        super().__init__(scope, construct_id)
        self.path = TerraformAsset(self, "zip", path=str(code.path), type=AssetType.FILE).path
        self.sha256 = code.sha256


class HandlerFunction(Construct):
    """One function with its own role (only `grants` plus its logs and telemetry)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: str,
        code: CodeAsset,
        layer_arn: str,
        settings: FunctionSettings,
        key_arn: str,
        account: str,
        region: str,
        metrics_namespace: str,
        environment: Mapping[str, str],
        grants: Sequence[Grant],
        dead_letter_arn: str,
        placement: Placement | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.timeout = settings.timeout
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/aws/lambda/{name}",
            retention_in_days=settings.log_retention_days,
            kms_key_id=key_arn,
        )
        self.role = service_role(
            self,
            "role",
            name=name,
            service="lambda.amazonaws.com",
            grants=[
                *grants,
                *_runtime_grants(self.log_group.arn, dead_letter_arn, metrics_namespace),
                *(_network_grants(placement, account, region) if placement else ()),
            ],
        )
        self.function = LambdaFunction(
            self,
            "function",
            function_name=name,
            role=self.role.arn,
            handler=handler,
            runtime=RUNTIME,
            architectures=[settings.architecture],
            memory_size=settings.memory,
            timeout=settings.timeout,
            reserved_concurrent_executions=settings.concurrency,
            filename=code.path,
            source_code_hash=code.sha256,
            layers=[layer_arn],
            kms_key_arn=key_arn,
            environment={"variables": dict(sorted(environment.items()))},
            tracing_config={"mode": "Active"},
            dead_letter_config={"target_arn": dead_letter_arn},
            vpc_config=(
                {
                    "subnet_ids": list(placement.subnet_ids),
                    "security_group_ids": list(placement.security_group_ids),
                }
                if placement
                else None
            ),
            depends_on=[self.log_group],
        )

    @property
    def arn(self) -> str:
        return self.function.arn

    @property
    def function_name(self) -> str:
        return self.function.function_name


def _runtime_grants(log_group_arn: str, dead_letter_arn: str, namespace: str) -> list[Grant]:
    return [
        Grant(
            "WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{log_group_arn}:*",)
        ),
        # Lambda sends failed asynchronous invocations here with the function's role.
        # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
        Grant("DeadLetterFailedInvocations", ("sqs:SendMessage",), (dead_letter_arn,)),
        Grant("Tracing", ("xray:PutTelemetryRecords", "xray:PutTraceSegments"), ("*",)),
        Grant(
            "ReefMetrics",
            ("cloudwatch:PutMetricData",),
            ("*",),
            (Condition("StringEquals", "cloudwatch:namespace", (namespace,)),),
        ),
    ]


def _network_grants(placement: Placement, account: str, region: str) -> list[Grant]:
    # The actions of AWS's AWSLambdaVPCAccessExecutionRole, with which Lambda manages the
    # function's network interfaces; those that take resources are confined to the
    # function's subnets and security groups and this account's interfaces.
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
    ec2 = f"arn:aws:ec2:{region}:{account}"
    interfaces = f"{ec2}:network-interface/*"
    return [
        Grant(
            "DescribeVpcPlacement",
            ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
            ("*",),
        ),
        Grant(
            "CreateNetworkInterfaces",
            ("ec2:CreateNetworkInterface",),
            (
                interfaces,
                *(f"{ec2}:subnet/{subnet}" for subnet in placement.subnet_ids),
                *(f"{ec2}:security-group/{group}" for group in placement.security_group_ids),
            ),
        ),
        Grant(
            "ManageNetworkInterfaces",
            (
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ),
            (interfaces,),
        ),
    ]
