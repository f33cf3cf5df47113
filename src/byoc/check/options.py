"""What one ``byoc check`` run is asked to do: the image, the model, the sample, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_SAMPLE", "EMPTY_MODEL", "CheckOptions", "Sample"]

EMPTY_MODEL = Path("/nonexistent/byoc-check-no-model")  # mounted as an empty directory

# Three header-less Auto MPG rows (cylinders, displacement, horsepower, weight,
# acceleration, model_year, origin): what byoc's example image predicts on, and plain
# numeric CSV that most tabular models read. Used when no --payload is given.
DEFAULT_SAMPLE = b"4,140,86,2790,15.6,82,1\n8,350,165,3693,11.5,70,1\n4,97,88,2130,14.5,71,3\n"


@dataclass(frozen=True)
class Sample:
    body: bytes = DEFAULT_SAMPLE
    content_type: str = "text/csv"
    accept: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.accept:
            headers["Accept"] = self.accept
        return headers

    def records(self) -> list[bytes]:
        """The sample's lines (records, for CSV and JSON Lines)."""
        return [line for line in self.body.splitlines() if line.strip()]


@dataclass(frozen=True)
class CheckOptions:
    image: str
    model: Path  # a directory or model.tar.gz, read-only at /opt/ml/model (EMPTY_MODEL: none)
    sample: Sample = Sample()
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 600.0
    stop_grace: int = 30  # SageMaker's SIGTERM-to-SIGKILL for endpoints
    train_dir: Path | None = None  # an /opt/ml tree with input/config and input/data
    train_stop_grace: int = 120  # StopTrainingJob's SIGTERM-to-SIGKILL
    say: Callable[[str], None] = field(default=lambda _message: None, compare=False)

    @property
    def payload_limit_mb(self) -> int:
        raw = self.env.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")
        return int(raw) if raw.isdigit() else 6
