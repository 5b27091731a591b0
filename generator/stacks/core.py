"""The core stack: what every connector of an environment shares."""

from pathlib import Path

from cdktf import TerraformStack
from constructs import Construct

from generator.environments import Environment
from generator.layer import LayerArtifact
from generator.naming import bookkeeping_table_name, resource_prefix, staging_bucket_name
from generator.provider import configure_stack
from handlers.contracts import runtime
from modules.kms import EncryptionKey
from modules.layer import SharedLayer
from modules.redshift import redshift_copy_role
from modules.storage import BookkeepingTable, StagingBucket
from modules.topics import AlarmTopic

# The batch index is keyed by the batch id attribute of book-keeping items.
BATCH_ID_ATTRIBUTE = "batch_id"


def core_stack_name(environment: Environment) -> str:
    return f"core-{environment.name}"


class CoreStack(TerraformStack):
    """KMS key, staging bucket, book-keeping table, layer, alarm topic, Redshift COPY role.

    Connector stacks read these attributes; cdktf turns each use into a cross-stack
    reference (an output here, remote state there).
    """

    def __init__(
        self,
        scope: Construct,
        environment: Environment,
        *,
        layer: LayerArtifact,
        with_redshift: bool,
        outdir: Path,
    ) -> None:
        name = core_stack_name(environment)
        super().__init__(scope, name)
        configure_stack(self, environment, stack_name=name, connector=None, outdir=outdir)
        prefix = resource_prefix(environment)

        self.key = EncryptionKey(
            self,
            "key",
            alias=f"alias/{prefix}",
            account=environment.account,
            region=environment.region,
        )
        self.staging = StagingBucket(
            self,
            "staging",
            name=staging_bucket_name(environment),
            key_arn=self.key.arn,
            expiry_days_by_prefix={
                runtime.STAGING_PREFIX: environment.staging_expiry_days,
                runtime.QUARANTINE_PREFIX: environment.quarantine_expiry_days,
            },
        )
        self.bookkeeping = BookkeepingTable(
            self,
            "bookkeeping",
            name=bookkeeping_table_name(environment),
            key_arn=self.key.arn,
            partition_key=runtime.BOOKKEEPING_PARTITION_KEY,
            sort_key=runtime.BOOKKEEPING_SORT_KEY,
            ttl_attribute=runtime.BOOKKEEPING_TTL_ATTRIBUTE,
            batch_index=runtime.BOOKKEEPING_BATCH_INDEX,
            batch_index_key=BATCH_ID_ATTRIBUTE,
        )
        self.layer = SharedLayer(
            self,
            "layer",
            name=prefix,
            zip_path=layer.path,
            zip_sha256=layer.sha256,
            architecture=environment.lambda_.architecture,
        )
        self.alarms = AlarmTopic(
            self,
            "alarms",
            name=f"{prefix}-alarms",
            key_arn=self.key.arn,
            emails=environment.alarm_emails,
        )
        self.redshift_copy_role_arn: str | None = None
        if with_redshift:
            self.redshift_copy_role_arn = redshift_copy_role(
                self,
                "redshift-copy",
                name=f"{prefix}-redshift-copy",
                bucket_arn=self.staging.arn,
                batches_prefix=runtime.STAGING_PREFIX,
                key_arn=self.key.arn,
            ).arn
