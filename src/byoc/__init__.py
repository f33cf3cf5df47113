"""byoc: put any machine-learning model into a container Amazon SageMaker accepts."""

from __future__ import annotations

from .codecs import Codec, CodecRegistry, default_registry
from .context import Context
from .core import ModelState, Response, Service
from .errors import (
    BadRequest,
    ByocError,
    ModelError,
    NotAcceptable,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from .handler import Handlers
from .media import MediaType
from .paths import MLPaths
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "ByocError",
    "Codec",
    "CodecRegistry",
    "Context",
    "Handlers",
    "MLPaths",
    "MediaType",
    "ModelError",
    "ModelState",
    "NotAcceptable",
    "PayloadTooLarge",
    "Response",
    "Service",
    "ServiceUnavailable",
    "Settings",
    "UnsupportedMediaType",
    "__version__",
    "default_registry",
]
