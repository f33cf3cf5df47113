"""Media types: Content-Type parameters and Accept q-values, parsed once, in one place."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["MediaRange", "MediaType", "negotiate", "parse_accept", "parse_media_type"]


@dataclass(frozen=True)
class MediaType:
    """A parsed ``type/subtype; key=value`` with the essence lower-cased."""

    essence: str
    params: tuple[tuple[str, str], ...] = ()
    charset: str = field(init=False)
    """The ``charset`` parameter, lower-cased; ``utf-8`` when absent."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "charset", self.param("charset") or "utf-8")

    def param(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header."""

    essence: str
    q: float = 1.0
    params: tuple[tuple[str, str], ...] = field(default=())

    def matches(self, essence: str) -> bool:
        if self.essence == "*/*" or self.essence == essence:
            return True
        if self.essence.endswith("/*"):
            return essence.startswith(self.essence[:-1])
        return False

    @property
    def specificity(self) -> int:
        if self.essence == "*/*":
            return 0
        return 1 if self.essence.endswith("/*") else 2


def _split_params(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    head, *rest = text.split(";")
    params: list[tuple[str, str]] = []
    for part in rest:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not key or not sep:
            continue
        params.append((key, value.strip().strip('"')))
    return head.strip().lower(), tuple(params)


@lru_cache(maxsize=512)
def parse_media_type(header: str) -> MediaType | None:
    """Parse a Content-Type header; ``None`` when it is not ``type/subtype``."""
    essence, params = _split_params(header)
    kind, slash, sub = essence.partition("/")
    if not slash or not kind or not sub or "*" in essence or " " in essence:
        return None
    params = tuple((k, v.lower()) if k == "charset" else (k, v) for k, v in params)
    return MediaType(essence, params)


@lru_cache(maxsize=512)
def parse_accept(header: str) -> tuple[MediaRange, ...]:
    """Parse Accept into ranges ordered by preference (q, then specificity, then position).

    Malformed entries are ignored, as RFC 9110 allows; ``q=0`` entries are kept so that
    they can exclude a type.
    """
    ranges: list[tuple[float, int, int, MediaRange]] = []
    for position, item in enumerate(header.split(",")):
        if not item.strip():
            continue
        essence, params = _split_params(item)
        if essence == "*":
            essence = "*/*"
        kind, slash, sub = essence.partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        q = 1.0
        rest: list[tuple[str, str]] = []
        for key, value in params:
            if key == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
            else:
                rest.append((key, value))
        media_range = MediaRange(essence, q, tuple(rest))
        ranges.append((-q, -media_range.specificity, position, media_range))
    ranges.sort(key=lambda item: item[:3])
    return tuple(item[3] for item in ranges)


def _quality(ranges: tuple[MediaRange, ...], essence: str) -> float:
    """q of the most specific range matching ``essence`` (RFC 9110 12.5.1)."""
    best: MediaRange | None = None
    for media_range in ranges:
        if media_range.matches(essence) and (
            best is None or media_range.specificity > best.specificity
        ):
            best = media_range
    return 0.0 if best is None else best.q


def negotiate(ranges: tuple[MediaRange, ...], offered: Iterable[str]) -> str | None:
    """The offered type the client prefers most, or ``None`` when none is acceptable.

    Ties go to the client's order of preference, then to the order of ``offered``.
    """
    choice: str | None = None
    choice_key: tuple[float, int] = (0.0, 0)
    offered = tuple(offered)
    for index, essence in enumerate(offered):
        q = _quality(ranges, essence)
        if q <= 0.0:
            continue
        # Prefer higher q; among equals, the type the client named first.
        rank = next(
            (i for i, r in enumerate(ranges) if r.matches(essence) and r.q == q),
            len(ranges) + index,
        )
        key = (q, -rank)
        if choice is None or key > choice_key:
            choice, choice_key = essence, key
    return choice
