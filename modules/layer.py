"""The shared Lambda layer that carries all of Reef's handler code and its dependencies."""

from pathlib import Path

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.lambda_layer_version import LambdaLayerVersion
from constructs import Construct

RUNTIME = "python3.12"


class SharedLayer(Construct):
    """A layer version from a built zip; a new version only when the zip's hash changes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        zip_path: Path,
        zip_sha256: str,
        architecture: str,
    ) -> None:
        super().__init__(scope, construct_id)
        # The asset copies the zip into the stack's folder under a content hash, so the
        # synthesized path is relative and the same on every machine.
        asset = TerraformAsset(self, "zip", path=str(zip_path), type=AssetType.FILE)
        self.version = LambdaLayerVersion(
            self,
            "version",
            layer_name=name,
            filename=asset.path,
            source_code_hash=zip_sha256,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[architecture],
        )

    @property
    def arn(self) -> str:
        return self.version.arn
