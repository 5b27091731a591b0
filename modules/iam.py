"""IAM building blocks: statements as plain data, rendered with DataAwsIamPolicyDocument.

Policies are rendered as `aws_iam_policy_document` data sources, not JSON strings, so that
scanners such as checkov can read every statement of the synthesized stacks.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

# The only actions a Reef grant may allow on Resource "*": they have no resource type in the
# Service Authorization Reference, so any narrower resource denies them. PutMetricData is
# narrowed by a namespace condition instead, the Redshift statement reads by their owner.
# https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
ACTIONS_WITHOUT_RESOURCES = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "cloudwatch:PutMetricData",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "redshift-data:DescribeStatement",
        "redshift-data:GetStatementResult",
    }
)


@dataclass(frozen=True)
class Condition:
    """One IAM condition: test (StringEquals, ...), context key, allowed values."""

    test: str
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """One Allow statement: what may be done, on which resources, under which conditions."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = field(default=())

    def __post_init__(self) -> None:
        if any(action == "*" or action.endswith(":*") for action in self.actions):
            raise ValueError(f"grant {self.sid} names a wildcard action; name each action")
        if "*" in self.resources:
            unscoped = sorted(set(self.actions) - ACTIONS_WITHOUT_RESOURCES)
            if unscoped:
                raise ValueError(
                    f"grant {self.sid} allows {', '.join(unscoped)} on every resource;"
                    " name the resources"
                )


def policy_document(scope: Construct, construct_id: str, grants: Sequence[Grant]) -> str:
    """Render grants as a policy document data source; returns the document's JSON token."""
    document = DataAwsIamPolicyDocument(
        scope,
        construct_id,
        statement=[
            DataAwsIamPolicyDocumentStatement(
                sid=grant.sid,
                effect="Allow",
                actions=sorted(grant.actions),
                resources=list(grant.resources),
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test=c.test, variable=c.variable, values=list(c.values)
                    )
                    for c in grant.conditions
                ]
                or None,
            )
            for grant in grants
        ],
    )
    return document.json


def service_role(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    service: str,
    grants: Sequence[Grant],
) -> IamRole:
    """A role that one AWS service may assume, with grants as its only (inline) policy."""
    trust = DataAwsIamPolicyDocument(
        scope,
        f"{construct_id}-trust",
        statement=[
            DataAwsIamPolicyDocumentStatement(
                sid="AssumedByService",
                effect="Allow",
                actions=["sts:AssumeRole"],
                principals=[
                    DataAwsIamPolicyDocumentStatementPrincipals(
                        type="Service", identifiers=[service]
                    )
                ],
            )
        ],
    )
    role = IamRole(scope, construct_id, name=name, assume_role_policy=trust.json)
    IamRolePolicy(
        scope,
        f"{construct_id}-policy",
        name=name,
        role=role.id,
        policy=policy_document(scope, f"{construct_id}-grants", grants),
    )
    return role
