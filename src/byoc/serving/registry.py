"""Which model a request goes to: the registry a service holds.

Two implementations share one small interface: :class:`SingleModel` (``/invocations``,
the model under ``/opt/ml/model``) and ``MultiModelRegistry`` (``/models/NAME/invoke``,
the models ``POST /models`` loaded; see :mod:`byoc.serving.multimodel`).
"""

from __future__ import annotations

from typing import Protocol

from .http import Response
from .runtime import ModelRuntime

__all__ = ["ModelRegistry", "SingleModel"]


class ModelRegistry(Protocol):
    def runtime(self, name: str | None) -> ModelRuntime:
        """The runtime that answers a request for ``name`` (``None``: ``/invocations``);
        raises a :class:`~byoc.errors.ByocError` (404, 503) when there is none."""
        ...

    def ping(self) -> Response: ...

    def close(self) -> None: ...


class SingleModel:
    """One model for the whole endpoint; the single-model handler keeps the toolkit's module
    name (``inference``), since a pickled model may refer to classes defined in it."""

    def __init__(self, runtime: ModelRuntime) -> None:
        self.model = runtime

    def runtime(self, name: str | None) -> ModelRuntime:
        return self.model

    def ping(self) -> Response:
        return self.model.health()

    def close(self) -> None:
        pass
