"""Codecs: one module per media type behind one small registry.

A codec turns request bytes into Python objects (``decode``) and predictions into
response bytes (``encode``). Register your own with ``registry.register(codec)``;
a codec for a type that is already registered replaces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from ..media import MediaType

__all__ = ["Codec", "CodecRegistry", "default_registry"]


@runtime_checkable
class Codec(Protocol):
    """What a media type module provides."""

    media_type: str

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        """Bytes of a request into an object for ``predict``; raise ``BadRequest`` if invalid."""
        ...

    def encode(self, obj: Any) -> bytes:
        """A prediction into response bytes; raise ``ModelError`` if it cannot be encoded."""
        ...


class CodecRegistry:
    """Media type essence → codec, in registration order."""

    def __init__(self, codecs: tuple[Codec, ...] = ()) -> None:
        self._codecs: dict[str, Codec] = {}
        for codec in codecs:
            self.register(codec)

    def register(self, codec: Codec) -> None:
        essence = codec.media_type.strip().lower()
        if "/" not in essence:
            raise ValueError(f"codec media_type must be type/subtype, got {codec.media_type!r}")
        self._codecs[essence] = codec

    def get(self, essence: str) -> Codec | None:
        return self._codecs.get(essence)

    def __contains__(self, essence: object) -> bool:
        return essence in self._codecs

    def __iter__(self) -> Iterator[str]:
        return iter(self._codecs)

    @property
    def media_types(self) -> tuple[str, ...]:
        return tuple(self._codecs)


def default_registry(max_bytes: int | None = None) -> CodecRegistry:
    """A fresh registry with the built-in codecs (no pickle anywhere).

    ``max_bytes`` bounds what a compressed body (NPZ) may decompress to; the service
    passes its payload limit (default: SageMaker's 6 MiB).
    """
    from . import csv, json, jsonlines, npy, npz, recordio

    archive = npz.CODEC if max_bytes is None else npz.NpzCodec(max_bytes)
    return CodecRegistry(
        (json.CODEC, csv.CODEC, jsonlines.CODEC, npy.CODEC, archive, recordio.CODEC)
    )
