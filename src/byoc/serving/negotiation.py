"""Content negotiation: which codec decodes a request and which type answers it.

Content-Type parameters and Accept q-values are parsed by ``byoc.media``; this module
decides with them. With no Accept (or ``*/*``) the answer is in the default accept:
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else ``application/json`` as the AWS toolkit and
containers do (``BYOC_ACCEPT_DEFAULT=request`` answers in the request's type instead, if
a codec encodes it).
"""

from __future__ import annotations

from ..codecs import Codec, CodecRegistry
from ..codecs._text import decode_text
from ..errors import NotAcceptable, UnsupportedMediaType
from ..media import MediaType, negotiate, parse_accept, parse_media_type
from .http import JSON

__all__ = ["TEXT_INPUT", "Negotiator"]

# What input_fn/transform_fn receive as str (UTF-8 decoded); everything else is bytes.
TEXT_INPUT = frozenset({"application/json", "text/csv"})


class Negotiator:
    def __init__(
        self, codecs: CodecRegistry, default_accept: str | None, request_type_default: bool
    ) -> None:
        self.codecs = codecs
        self.default_accept = default_accept
        self.request_type_default = request_type_default
        self._cache: dict[tuple[str | None, str | None], str | None] = {}

    def media_type(self, content_type: str | None) -> MediaType | None:
        if not content_type:
            return None
        media_type = parse_media_type(content_type)
        if media_type is None:
            raise UnsupportedMediaType(f"Content-Type {content_type!r} is not a media type")
        return media_type

    def decoder(self, media_type: MediaType | None) -> Codec:
        supported = ", ".join(self.codecs.media_types)
        if media_type is None:
            raise UnsupportedMediaType(f"a Content-Type header is required; supported: {supported}")
        codec = self.codecs.get(media_type.essence)
        if codec is None:
            raise UnsupportedMediaType(
                f"Content-Type {media_type.essence!r} is not supported; supported: {supported} "
                "(or define input_fn in the handler)"
            )
        return codec

    def _preferred(self, request_type: str | None) -> str:
        if self.default_accept:
            return self.default_accept
        if self.request_type_default and request_type and request_type in self.codecs:
            return request_type
        return JSON

    def encoding(self, accept: str | None, media_type: MediaType | None) -> str:
        """The type a codec answers in (406 if none fits Accept)."""
        request_type = media_type.essence if media_type else None
        key = (accept, request_type)
        cached = self._cache.get(key, "")
        if cached != "":
            if cached is None:
                raise self._not_acceptable(accept)
            return cached
        preferred = self._preferred(request_type)
        if not accept or accept.strip() == "*/*":
            choice: str | None = preferred.lower()
        else:
            offered = (preferred.lower(), *self.codecs.media_types)
            choice = negotiate(parse_accept(accept), offered)
        if len(self._cache) < 1024:
            self._cache[key] = choice
        if choice is None:
            raise self._not_acceptable(accept)
        return choice

    def _not_acceptable(self, accept: str | None) -> NotAcceptable:
        return NotAcceptable(
            f"cannot produce any of Accept {accept!r}; "
            f"available: {', '.join(self.codecs.media_types)}"
        )

    def user_accept(self, accept: str | None) -> str:
        """What output_fn/transform_fn receive as ``accept``: one bare media type.

        Missing or ``*/*`` means the default (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
        else application/json, as in the toolkit); otherwise the client's most
        preferred concrete type.
        """
        default = self.default_accept or JSON
        if not accept:
            return default
        for media_range in parse_accept(accept):
            if media_range.q > 0 and "*" not in media_range.essence:
                return media_range.essence
        return default

    @staticmethod
    def user_input(body: bytes, media_type: MediaType | None) -> str | bytes:
        if media_type is not None and media_type.essence in TEXT_INPUT:
            return decode_text(body, media_type)
        return body
