"""Training failures that carry the text SageMaker shows as FailureReason."""

from __future__ import annotations

__all__ = ["TrainingError"]


class TrainingError(Exception):
    """A failure before or around the user's program; ``kind`` leads the failure file."""

    def __init__(self, message: str, kind: str = "ClientError", exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
