"""A transform job's settings: validated like CreateTransformJob, then resolved.

MaxConcurrentTransforms, BatchStrategy and MaxPayloadInMB come from the job when it gives
them, else from the container's ``GET /execution-parameters`` (optional: anything but a
200 with a JSON object means it has no opinion), else SageMaker's defaults (1, MultiRecord,
6 MB). The container is told the job's own values only (``SAGEMAKER_BATCH_STRATEGY``,
``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``), as SageMaker does,
and always ``SAGEMAKER_BATCH=true``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..jsonpath import JsonPathError, parse
from .processing import DataProcessing, media_kind
from .records import SPLIT_TYPES

__all__ = ["ConfigError", "JobOptions", "Resolved", "container_parameters", "resolve"]

STRATEGIES = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}
DEFAULT_CONCURRENCY = 1
DEFAULT_PAYLOAD_MB = 6
DEFAULT_STRATEGY = "MultiRecord"
MAX_TOTAL_MB = 100  # MaxConcurrentTransforms x MaxPayloadInMB


class ConfigError(ValueError):
    """A setting SageMaker would refuse (or this emulator does not do); names it."""


@dataclass(frozen=True)
class JobOptions:
    """What the job says. ``None``: not given (the container or the default decides)."""

    content_type: str | None = "text/csv"
    accept: str | None = None
    split_type: str = "Line"
    batch_strategy: str | None = None
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: str = "Line"
    join_source: str = "None"
    input_filter: str | None = None
    output_filter: str | None = None
    invocation_timeout: float = 600.0
    max_retries: int = 3

    def processing(self) -> DataProcessing:
        """Validate everything; the data processing the job asks for."""
        _one_of(self.split_type, (*SPLIT_TYPES, "TFRecord"), "SplitType")
        if self.split_type == "TFRecord":
            raise ConfigError(
                "SplitType TFRecord is not emulated (byoc local transform splits None, Line "
                "and RecordIO); run it on SageMaker with byoc transform"
            )
        if self.batch_strategy is not None:
            _one_of(self.batch_strategy, tuple(STRATEGIES), "BatchStrategy")
        _one_of(self.assemble_with, ("None", "Line"), "AssembleWith")
        _one_of(self.join_source, ("None", "Input"), "JoinSource")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"MaxConcurrentTransforms={self.max_concurrent}: must be at least 1")
        check_limits(self.max_concurrent, self.max_payload_mb)
        if not 1 <= self.invocation_timeout <= 3600:
            raise ConfigError(
                f"InvocationsTimeoutInSeconds={self.invocation_timeout:g}: must be 1-3600"
            )
        if not 0 <= self.max_retries <= 3:
            raise ConfigError(f"InvocationsMaxRetries={self.max_retries}: must be 0-3")
        try:
            parsed = [parse(f) if f else None for f in (self.input_filter, self.output_filter)]
        except JsonPathError as exc:
            raise ConfigError(f"DataProcessing: {exc}") from None
        filters = [None if path is None or path.identity else path for path in parsed]  # "$"
        processing = DataProcessing(
            media_kind(self.content_type), filters[0], self.join_source == "Input", filters[1]
        )
        if processing.per_record or processing.input_filter is not None:
            self._check_data_processing(processing)
        return processing

    def _check_data_processing(self, processing: DataProcessing) -> None:
        if processing.input_kind is None:
            raise ConfigError(
                f"InputFilter, JoinSource and OutputFilter need CSV or JSON input, not "
                f"ContentType {self.content_type!r} (text/csv, application/json, "
                "application/jsonlines)"
            )
        if self.accept is not None and media_kind(self.accept) is None:
            raise ConfigError(
                f"JoinSource and OutputFilter need CSV or JSON output, not Accept {self.accept!r}"
            )
        if self.split_type == "RecordIO" or (
            processing.input_kind == "csv" and self.split_type != "Line"
        ):
            raise ConfigError(
                f"DataProcessing with ContentType {self.content_type} needs SplitType Line"
                + (" (or None for whole JSON documents)" if processing.input_kind == "json" else "")
            )
        csv_paths = [processing.input_filter] if processing.input_kind == "csv" else []
        if processing.join_input and processing.input_kind == "csv":
            csv_paths.append(processing.output_filter)
        for path in csv_paths:
            if path is not None and not path.index_only:
                raise ConfigError(
                    f"{path.expression!r}: a CSV row is an array of fields, so only index "
                    "paths apply (e.g. $[1:], $[0,-1])"
                )

    def environment(self) -> dict[str, str]:
        env = {"SAGEMAKER_BATCH": "true"}
        if self.max_payload_mb is not None:
            env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(self.max_payload_mb)
        if self.batch_strategy is not None:
            env["SAGEMAKER_BATCH_STRATEGY"] = STRATEGIES[self.batch_strategy]
        if self.max_concurrent is not None:
            env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(self.max_concurrent)
        return env


@dataclass(frozen=True)
class Resolved:
    max_concurrent: int
    batch_strategy: str  # SingleRecord | MultiRecord
    max_payload_mb: int  # 0: no limit, each request streamed (chunked)
    sources: tuple[str, str, str]  # "job", "container" or "default", in that order

    @property
    def limit(self) -> int:
        return self.max_payload_mb * 1024 * 1024

    def describe(self) -> str:
        values = (self.max_concurrent, self.batch_strategy, self.max_payload_mb)
        names = ("MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB")
        triples = zip(names, values, self.sources, strict=True)
        return ", ".join(f"{name}={value} ({source})" for name, value, source in triples)


def check_limits(concurrent: int | None, payload_mb: int | None) -> None:
    if payload_mb is not None and not 0 <= payload_mb <= MAX_TOTAL_MB:
        raise ConfigError(f"MaxPayloadInMB={payload_mb}: must be 0-{MAX_TOTAL_MB}")
    if concurrent and payload_mb and concurrent * payload_mb > MAX_TOTAL_MB:
        raise ConfigError(
            f"MaxConcurrentTransforms={concurrent} x MaxPayloadInMB={payload_mb} is "
            f"{concurrent * payload_mb} MB: SageMaker allows at most {MAX_TOTAL_MB}"
        )


def container_parameters(status: int, body: bytes) -> dict[str, Any] | None:
    """The container's ``/execution-parameters`` answer, ``None`` when it has no opinion."""
    if status != 200:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def resolve(options: JobOptions, container: dict[str, Any] | None) -> Resolved:
    """The job's values, else the container's, else the defaults; checked again."""
    theirs = container or {}
    strategy = theirs.get("BatchStrategy")
    if isinstance(strategy, str):
        by_env = {env: api for api, env in STRATEGIES.items()}
        strategy = by_env.get(strategy.upper(), strategy)
    picked = [
        _pick(options.max_concurrent, theirs.get("MaxConcurrentTransforms"), DEFAULT_CONCURRENCY),
        _pick(options.batch_strategy, strategy, DEFAULT_STRATEGY),
        _pick(options.max_payload_mb, theirs.get("MaxPayloadInMB"), DEFAULT_PAYLOAD_MB),
    ]
    concurrent, batch_strategy, payload = (value for value, _ in picked)
    if not isinstance(concurrent, int) or isinstance(concurrent, bool) or concurrent < 1:
        raise ConfigError(f"/execution-parameters: MaxConcurrentTransforms={concurrent!r}")
    if batch_strategy not in STRATEGIES:
        raise ConfigError(f"/execution-parameters: BatchStrategy={batch_strategy!r}")
    if not isinstance(payload, int) or isinstance(payload, bool):
        raise ConfigError(f"/execution-parameters: MaxPayloadInMB={payload!r}")
    try:
        check_limits(concurrent, payload)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (with /execution-parameters {container})") from None
    sources = tuple(source for _, source in picked)
    return Resolved(concurrent, batch_strategy, payload, sources)  # type: ignore[arg-type]


def _pick(job: Any, container: Any, default: Any) -> tuple[Any, str]:
    if job is not None:
        return job, "job"
    if container is not None:
        return container, "container"
    return default, "default"


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{what} {value!r}: must be one of {', '.join(allowed)}")
