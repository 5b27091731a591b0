"""The connector spec: one flow from a source to a warehouse, as a team writes it in YAML.

This model is the shared vocabulary of the generator (which validates specs and builds stacks
from them) and of the handlers (which read the resolved spec at run time). It imports nothing
from either side. The JSON Schema under `schema/` is generated from it.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handlers.contracts.identifiers import (
    ConnectorName,
    SalesforceName,
    SecretReference,
    SqlIdentifier,
)
from handlers.contracts.schedule import parse_schedule

WriteMode = Literal["merge", "append", "replace"]


class FieldError(ValueError):
    """A model check's error about one field, named by its path below the checked model.

    A model validator has no field of its own; this lets the loader point the user at the
    line of the field to edit rather than at the top of the model.
    """

    def __init__(self, message: str, *field_path: str | int) -> None:
        super().__init__(message)
        self.field_path: tuple[str | int, ...] = field_path


class StrictModel(BaseModel):
    """Unknown keys are refused, so that a misspelt setting never passes unnoticed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class LambdaSettings(StrictModel):
    """Settings of the connector's functions; the environment gives the defaults."""

    memory: int | None = Field(
        None, ge=128, le=10240, description="memory of each function in MB, 128 to 10240"
    )
    timeout: int | None = Field(
        None, ge=30, le=900, description="timeout of each function in seconds, 30 to 900"
    )
    concurrency: int | None = Field(
        None, ge=1, le=1000, description="reserved concurrency of each function, 1 to 1000"
    )


class PostgresTable(StrictModel):
    """One table of a PostgreSQL source: one unit of the connector."""

    schema_: SqlIdentifier = Field(
        "public", alias="schema", description="schema of the source table"
    )
    table: SqlIdentifier = Field(description="name of the source table")
    primary_key: list[SqlIdentifier] = Field(
        min_length=1, description="the column(s) that identify a row, such as [id]"
    )
    cursor: SqlIdentifier | None = Field(
        None,
        description="a column that grows with every change (updated_at, a sequence);"
        " set it for incremental loads, leave it out for full loads",
    )
    target: SqlIdentifier | None = Field(
        None, description="name of the warehouse table; defaults to the source table's"
    )
    chunk_rows: int = Field(100_000, ge=1000, le=10_000_000, description="rows per extracted chunk")

    @property
    def unit(self) -> str:
        return self.target or self.table


class PostgresSource(StrictModel):
    """A PostgreSQL database, read full or incrementally by table."""

    type: Literal["postgres"]
    secret: SecretReference = Field(
        description="Secrets Manager secret with the RDS credential JSON"
        " (engine, host, port, username, password, dbname)"
    )
    tables: list[PostgresTable] = Field(min_length=1, description="the tables to move")

    @property
    def units(self) -> list[str]:
        return [table.unit for table in self.tables]


class SalesforceObject(StrictModel):
    """One Salesforce object (sObject): one unit of the connector."""

    name: SalesforceName = Field(description="API name of the object, such as Account")
    fields: list[SalesforceName] | None = Field(
        None, description="API names of the fields to move; all fields when left out"
    )
    cursor: SalesforceName | None = Field(
        "SystemModstamp",
        description="datetime field for incremental loads; null for a full refresh",
    )
    deletes: Literal["delete", "flag", "ignore"] = Field(
        "delete",
        description="deleted records: delete them in the warehouse, keep them flagged"
        " with IsDeleted, or ignore them",
    )
    compound_fields: Literal["skip", "flatten"] = Field(
        "skip", description="address and location fields: skip them or flatten their parts"
    )
    target: SqlIdentifier | None = Field(
        None, description="name of the warehouse table; defaults to the object's name"
    )

    @property
    def unit(self) -> str:
        return self.target or self.name


class SalesforceSource(StrictModel):
    """A Salesforce org, read through the REST and Bulk API 2.0."""

    type: Literal["salesforce"]
    secret: SecretReference = Field(
        description="Secrets Manager secret with the org's credentials"
        " (username, password and security_token, or OAuth client settings)"
    )
    domain: Literal["login", "test"] = Field(
        "login", description="'login' for production, 'test' for a sandbox"
    )
    api_version: str = Field("61.0", pattern=r"^[1-9][0-9]\.0$", description="such as 61.0")
    objects: list[SalesforceObject] = Field(min_length=1, description="the objects to move")
    api_budget_percent: int = Field(
        50,
        ge=1,
        le=100,
        description="stop starting new work above this share of the org's daily API limit",
    )
    bulk_threshold: int = Field(
        10_000, ge=1, description="a window with more records than this uses Bulk API 2.0"
    )

    @property
    def units(self) -> list[str]:
        return [obj.unit for obj in self.objects]


ColumnType = Literal[
    "text", "integer", "bigint", "numeric", "double", "boolean", "date", "timestamptz", "json"
]


class StreamColumn(StrictModel):
    """A column of the table that stream records land in."""

    name: SqlIdentifier
    type: ColumnType
    required: bool = Field(False, description="a record without this field is quarantined")


class StreamSettings(StrictModel):
    """The Kinesis stream and how Lambda reads it."""

    mode: Literal["on_demand", "provisioned"] = "on_demand"
    shards: int | None = Field(None, ge=1, le=500, description="shard count when provisioned")
    retention_hours: int = Field(24, ge=24, le=8760)
    batch_size: int = Field(100, ge=1, le=10_000)
    batching_window_seconds: int = Field(5, ge=0, le=300)
    parallelization_factor: int = Field(1, ge=1, le=10)
    max_retries: int = Field(3, ge=0, le=10_000, description="finite retries of a failing batch")
    max_record_age_seconds: int = Field(3600, ge=60, le=604_800)

    @model_validator(mode="after")
    def _shards_match_mode(self) -> "StreamSettings":
        if self.mode == "provisioned" and self.shards is None:
            raise ValueError("a provisioned stream needs 'shards'")
        if self.mode == "on_demand" and self.shards is not None:
            raise ValueError("'shards' applies only to mode: provisioned")
        return self


class StreamTable(StrictModel):
    """The warehouse table that a stream's records land in."""

    name: SqlIdentifier
    columns: list[StreamColumn] = Field(min_length=1)
    primary_key: list[SqlIdentifier] = Field(
        default_factory=list, description="columns that identify a record, for merge"
    )
    event_time_field: SqlIdentifier | None = Field(
        None, description="place records by this timestamp field instead of arrival time"
    )
    lateness_seconds: int = Field(
        300, ge=0, le=86_400, description="how long a timelabel stays open for late records"
    )
    dedup_field: SqlIdentifier | None = Field(
        None, description="an event id field; duplicates of it are dropped at load"
    )

    @model_validator(mode="after")
    def _fields_are_columns(self) -> "StreamTable":
        columns = {column.name for column in self.columns}
        named = [*self.primary_key, self.event_time_field, self.dedup_field]
        unknown = [name for name in named if name is not None and name not in columns]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among the table's columns")
        types = {column.name: column.type for column in self.columns}
        if self.event_time_field and types[self.event_time_field] != "timestamptz":
            raise ValueError(f"event_time_field {self.event_time_field!r} must be a timestamptz")
        return self


class KinesisSource(StrictModel):
    """A Kinesis data stream of JSON records, landed in timelabel micro-batches."""

    type: Literal["kinesis"]
    stream: StreamSettings = Field(default_factory=StreamSettings)  # type: ignore[arg-type]
    table: StreamTable

    @property
    def units(self) -> list[str]:
        return [self.table.name]


class PostgresDestination(StrictModel):
    """A PostgreSQL warehouse."""

    type: Literal["postgres"]
    secret: SecretReference = Field(
        description="Secrets Manager secret with the RDS credential JSON"
    )
    schema_: SqlIdentifier = Field(alias="schema", description="schema of the target tables")
    mode: WriteMode = Field("merge", description="merge by primary key, append, or replace")


class RedshiftDestination(StrictModel):
    """An Amazon Redshift warehouse, reached through the Redshift Data API."""

    type: Literal["redshift"]
    secret: SecretReference = Field(
        description="Secrets Manager secret with the RDS credential JSON"
    )
    schema_: SqlIdentifier = Field(alias="schema", description="schema of the target tables")
    mode: WriteMode = Field("merge", description="merge by primary key, append, or replace")
    database: SqlIdentifier = Field(description="the database to load into")
    cluster_identifier: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9-]{0,62}$", description="a provisioned cluster"
    )
    workgroup_name: str | None = Field(
        None, pattern=r"^[a-z0-9-]{3,64}$", description="a Redshift Serverless workgroup"
    )
    truncate_values: bool = Field(
        False, description="truncate text too long for its column instead of failing the batch"
    )

    @model_validator(mode="after")
    def _one_target(self) -> "RedshiftDestination":
        if (self.cluster_identifier is None) == (self.workgroup_name is None):
            raise ValueError("name exactly one of 'cluster_identifier' and 'workgroup_name'")
        return self


Source = Annotated[PostgresSource | SalesforceSource | KinesisSource, Field(discriminator="type")]
Destination = Annotated[PostgresDestination | RedshiftDestination, Field(discriminator="type")]


class ConnectorSpec(StrictModel):
    """One flow: a source, a destination, a schedule and the units to load."""

    name: ConnectorName = Field(description="the connector's name, used in resource names")
    description: str = Field("", max_length=500)
    source: Source
    destination: Destination
    schedule: str = Field(
        description="EventBridge schedule expression: 'rate(15 minutes)' or 'cron(0 3 * * ? *)'"
    )
    allow_overlap: bool = Field(
        False, description="start a unit's next batch while its previous one is in flight"
    )
    lambda_: LambdaSettings = Field(
        default_factory=LambdaSettings,  # type: ignore[arg-type]
        alias="lambda",
        description="function settings",
    )

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @model_validator(mode="after")
    def _units_are_unique(self) -> "ConnectorSpec":
        units = self.source.units
        repeated = sorted({unit for unit in units if units.count(unit) > 1})
        if repeated:
            raise FieldError(
                f"unit {', '.join(repeated)} appears twice; give one of them another 'target'",
                "source",
            )
        return self

    @model_validator(mode="after")
    def _merge_needs_keys(self) -> "ConnectorSpec":
        keyless_stream = (
            isinstance(self.source, KinesisSource) and not self.source.table.primary_key
        )
        if self.destination.mode == "merge" and keyless_stream:
            raise FieldError(
                "merge needs source.table.primary_key; name the key columns or use mode: append",
                "destination",
                "mode",
            )
        return self

    @property
    def units(self) -> list[str]:
        """The units of this connector, each loaded into its own warehouse table."""
        return self.source.units
