"""What sources and warehouses exchange about a batch: its bounds, columns and manifest.

A batch is (connector, unit, timelabel). Its files are gzip CSV in the format of
PostgreSQL's `COPY ... WITH (FORMAT csv)`: no header, comma separated, `"` quoted, a NULL
is an unquoted empty field and an empty string is `""`. Every source writes that format and
every warehouse reads it, so any source can feed any warehouse.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_VERSION: Literal[1] = 1


class Contract(BaseModel):
    """Frozen, strict, JSON-serializable: safe to put in a message or an S3 object."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Contract):
    """A column as the source describes it; warehouses map `type` to their own types."""

    name: str
    type: str = Field(description="source-native type, such as 'numeric(12,2)' or 'picklist'")
    source_type: Literal["postgres", "salesforce", "stream"]
    nullable: bool = True


class Bounds(Contract):
    """The cursor range of an incremental batch, lower exclusive unless stated; None for full."""

    lower: str | None = Field(None, description="the watermark the batch starts after")
    upper: str | None = Field(None, description="the source's maximum when the batch was fixed")
    lower_inclusive: bool = False


class ManifestFile(Contract):
    """One gzip CSV file of a batch in the staging bucket."""

    key: str
    rows: int
    bytes: int


class Manifest(Contract):
    """The files of one extracted batch and what a warehouse needs to load them."""

    version: Literal[1] = MANIFEST_VERSION
    connector: str
    unit: str
    timelabel: str
    batch_id: str
    bucket: str
    files: list[ManifestFile]
    columns: list[Column]
    primary_key: list[str]
    bounds: Bounds
    cursor: str | None = Field(
        None,
        description="the column that grows with every change of a row (the unit's cursor);"
        " a merge never replaces a row with one whose cursor is older",
    )
    deleted_keys_files: list[ManifestFile] = Field(
        default_factory=list,
        description="gzip CSV files of primary keys deleted at the source in this batch",
    )
    dedup_key: list[str] = Field(
        default_factory=list,
        description="columns of an event id: rows repeating one within the batch are dropped"
        " at load, whatever the write mode",
    )

    @property
    def rows(self) -> int:
        return sum(file.rows for file in self.files)
