"""The role Redshift assumes to COPY staged files, and what load functions may do there."""

from cdktf_cdktf_provider_aws.iam_role import IamRole
from constructs import Construct

from modules.iam import Condition, Grant, service_role


def redshift_copy_role(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    bucket_arn: str,
    batches_prefix: str,
    key_arn: str,
) -> IamRole:
    """A role for `COPY ... IAM_ROLE`: read the staged batches and decrypt them, nothing else.

    The role must also be associated with the cluster or workgroup, which Reef does not
    manage: `aws redshift modify-cluster-iam-roles` or the workgroup's namespace settings.
    """
    return service_role(
        scope,
        construct_id,
        name=name,
        service="redshift.amazonaws.com",
        grants=[
            Grant("ReadStagedBatches", ("s3:GetObject",), (f"{bucket_arn}/{batches_prefix}/*",)),
            Grant(
                "ListStagedBatches",
                ("s3:ListBucket",),
                (bucket_arn,),
                (Condition("StringLike", "s3:prefix", (f"{batches_prefix}/*",)),),
            ),
            Grant("DecryptStagedBatches", ("kms:Decrypt",), (key_arn,)),
        ],
    )


def data_api_grants(
    *,
    account: str,
    region: str,
    cluster_identifier: str | None,
    workgroup_name: str | None,
    secret_arn: str,
) -> list[Grant]:
    """What a load function needs to run statements through the Redshift Data API."""
    if cluster_identifier:
        target = f"arn:aws:redshift:{region}:{account}:cluster:{cluster_identifier}"
    else:
        # A workgroup's ARN ends in its generated id, not its name, so the spec's name cannot
        # be turned into it; this allows the account's workgroups in the region. Narrowing it
        # would take a data source lookup of the workgroup at plan time.
        del workgroup_name
        target = f"arn:aws:redshift-serverless:{region}:{account}:workgroup/*"
    return [
        Grant(
            "RunStatementsInTheWarehouse",
            ("redshift-data:BatchExecuteStatement", "redshift-data:ExecuteStatement"),
            (target,),
        ),
        # Statement reads have no resource type; AWS scopes them to the caller's own
        # statements with this condition key.
        # https://docs.aws.amazon.com/redshift/latest/mgmt/data-api-access.html
        Grant(
            "ReadOwnStatements",
            ("redshift-data:DescribeStatement", "redshift-data:GetStatementResult"),
            ("*",),
            (
                Condition(
                    "StringEquals", "redshift-data:statement-owner-iam-userid", ("&{aws:userid}",)
                ),
            ),
        ),
        Grant("ReadWarehouseSecret", ("secretsmanager:GetSecretValue",), (secret_arn,)),
    ]
