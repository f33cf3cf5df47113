"""What an image really decodes and encodes, asked of the image itself.

The image is started locally as an endpoint (network isolated, as Marketplace runs it)
with the model and sent the sample record: under each candidate ``Content-Type`` (anything
but 415 means the type is decoded; a 400 only says the sample is not in that format), and
under its own type with each candidate ``Accept`` (200 means the type is produced). Works
for any SageMaker image, not only byoc's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..codecs import default_registry
from ..local import DockerError, start_endpoint
from .errors import AwsError
from .progress import Reporter

__all__ = ["MediaSupport", "probe_media_types"]


@dataclass(frozen=True)
class MediaSupport:
    content_types: tuple[str, ...]
    accept: tuple[str, ...]


def probe_media_types(
    image: str,
    model: Path,
    sample: bytes,
    sample_type: str,
    reporter: Reporter,
    candidates: tuple[str, ...] = (),
    startup_timeout: float = 240,
) -> MediaSupport:
    types = tuple(dict.fromkeys((sample_type, *default_registry().media_types, *candidates)))
    try:
        endpoint = start_endpoint(image, model, isolated=True)
    except DockerError as exc:
        raise AwsError(f"could not start {image} to ask what it decodes: {exc}") from exc
    try:
        with reporter.task(f"starting {image} locally to probe its media types") as task:
            endpoint.wait_healthy(startup_timeout)
            task.update(status="healthy")
        status, body = endpoint.invoke(sample, sample_type)
        if status != 200:
            raise AwsError(
                f"the sample ({sample_type}) was not predicted: {status} "
                f"{body[:300].decode(errors='replace')}"
            )
        decoded = tuple(t for t in types if endpoint.invoke(sample, t)[0] != 415)
        encoded = tuple(t for t in types if endpoint.invoke(sample, sample_type, t)[0] == 200)
    except DockerError as exc:
        raise AwsError(f"{image} did not become healthy locally: {exc}") from exc
    finally:
        endpoint.stop()
    reporter.info(f"{image} decodes {', '.join(decoded)}; answers in {', '.join(encoded)}")
    return MediaSupport(decoded, encoded)
