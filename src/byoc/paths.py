"""The ``/opt/ml`` directory contract as one value object, rooted anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_ROOT", "MLPaths"]

DEFAULT_ROOT = Path("/opt/ml")


@dataclass(frozen=True)
class MLPaths:
    """Every path SageMaker uses, derived from one root (``/opt/ml`` in a container).

    Tests and the local emulator build one from a temporary directory.
    """

    root: Path = DEFAULT_ROOT

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def model_code_dir(self) -> Path:
        return self.model_dir / "code"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def models_dir(self) -> Path:
        """Multi-model endpoints: one sub-directory per model."""
        return self.root / "models"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def input_config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.input_config_dir / "hyperparameters.json"

    @property
    def inputdataconfig_file(self) -> Path:
        return self.input_config_dir / "inputdataconfig.json"

    @property
    def resourceconfig_file(self) -> Path:
        return self.input_config_dir / "resourceconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def output_intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def training_output_dirs(self) -> tuple[Path, ...]:
        """What a training job writes: model, output (data, intermediate), checkpoints."""
        return (
            self.model_dir,
            self.output_dir,
            self.output_data_dir,
            self.output_intermediate_dir,
            self.checkpoints_dir,
        )
