"""Reading and validating ``/opt/ml/input/config/*.json``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import MLPaths
from .errors import TrainingError

__all__ = [
    "RESERVED_HYPERPARAMETERS",
    "ChannelConfig",
    "ResourceConfig",
    "TrainingConfig",
    "decode_hyperparameter",
    "read_config",
]

# Set by the SageMaker SDK for the framework, not for the user's program.
RESERVED_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_distributed_dataparallel_enabled",
        "sagemaker_instance_type",
    }
)
_HP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,255}$")
_INPUT_MODES = ("File", "Pipe", "FastFile")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    content_type: str | None = None
    input_mode: str = "File"
    s3_distribution_type: str | None = None
    record_wrapper_type: str | None = None


@dataclass(frozen=True)
class ResourceConfig:
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    network_interface_name: str = "eth0"
    current_instance_type: str = "local"
    current_group_name: str = "homogeneousCluster"
    instance_groups: tuple[dict[str, Any], ...] = ()

    @property
    def host_index(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def is_distributed(self) -> bool:
        return len(self.hosts) > 1


@dataclass(frozen=True)
class TrainingConfig:
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """The user's hyperparameters, JSON-decoded where they parse."""
    raw_hyperparameters: dict[str, str] = field(default_factory=dict)
    framework_parameters: dict[str, Any] = field(default_factory=dict)
    """The ``sagemaker_*`` hyperparameters the SDK sets (program, submit directory, ...)."""
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    resources: ResourceConfig = field(default_factory=ResourceConfig)


def decode_hyperparameter(value: str) -> Any:
    """``"3"`` → 3, ``"[1,2]"`` → [1, 2], ``'"adam"'`` → "adam"; else the string itself."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def _load(path: Path, required: bool = False) -> Any:
    if not path.exists():
        if required:
            raise TrainingError(f"{path} is missing")
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TrainingError(
            f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path.name} cannot be read: {exc}") from None


def _hyperparameters(data: Any) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    if data is None:
        return {}, {}, {}
    if not isinstance(data, dict):
        raise TrainingError(
            f"hyperparameters.json must be a JSON object, not {type(data).__name__}"
        )
    raw: dict[str, str] = {}
    decoded: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, value in data.items():
        if not _HP_NAME.match(key):
            raise TrainingError(
                f"invalid hyperparameter name {key!r}: use letters, digits, '_', '-' and '.'"
            )
        if not isinstance(value, str):
            # SageMaker only sends strings; local tools sometimes write numbers.
            if isinstance(value, (dict, list)) or value is None:
                raise TrainingError(
                    f"invalid hyperparameter {key!r}: values must be strings, "
                    f"got {json.dumps(value)}"
                )
            value = json.dumps(value)
        target = framework if key in RESERVED_HYPERPARAMETERS else decoded
        target[key] = decode_hyperparameter(value)
        if key not in RESERVED_HYPERPARAMETERS:
            raw[key] = value
    return raw, decoded, framework


def _channels(data: Any) -> dict[str, ChannelConfig]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TrainingError("inputdataconfig.json must be a JSON object of channels")
    channels: dict[str, ChannelConfig] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise TrainingError(f"inputdataconfig.json: channel {name!r} must be an object")
        mode = spec.get("TrainingInputMode", "File")
        if mode not in _INPUT_MODES:
            raise TrainingError(
                f"inputdataconfig.json: channel {name!r} has TrainingInputMode {mode!r}; "
                f"expected one of {', '.join(_INPUT_MODES)}"
            )
        channels[name] = ChannelConfig(
            name=name,
            content_type=spec.get("ContentType"),
            input_mode=mode,
            s3_distribution_type=spec.get("S3DistributionType"),
            record_wrapper_type=spec.get("RecordWrapperType"),
        )
    return channels


def _resources(data: Any) -> ResourceConfig:
    if data is None:
        return ResourceConfig()
    if not isinstance(data, dict):
        raise TrainingError("resourceconfig.json must be a JSON object")
    hosts = data.get("hosts") or ["algo-1"]
    current = data.get("current_host") or hosts[0]
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise TrainingError("resourceconfig.json: hosts must be a list of host names")
    if current not in hosts:
        raise TrainingError(f"resourceconfig.json: current_host {current!r} is not in {hosts}")
    return ResourceConfig(
        current_host=current,
        hosts=tuple(hosts),
        network_interface_name=data.get("network_interface_name", "eth0"),
        current_instance_type=data.get("current_instance_type", "local"),
        current_group_name=data.get("current_group_name", "homogeneousCluster"),
        instance_groups=tuple(data.get("instance_groups") or ()),
    )


def read_config(paths: MLPaths) -> TrainingConfig:
    """Read the three config files; missing ones mean a local single-host run."""
    raw, decoded, framework = _hyperparameters(_load(paths.hyperparameters_file))
    channels = _channels(_load(paths.inputdataconfig_file))
    if not paths.inputdataconfig_file.exists() and paths.data_dir.is_dir():
        # A local run without inputdataconfig.json: every data directory is a File channel.
        channels = {
            d.name: ChannelConfig(d.name) for d in sorted(paths.data_dir.iterdir()) if d.is_dir()
        }
    for channel in channels.values():
        if channel.input_mode == "Pipe":
            continue  # FIFOs <channel>_<epoch> appear as the job reads them
        if not paths.channel_dir(channel.name).is_dir():
            raise TrainingError(
                f"channel {channel.name!r} is declared in inputdataconfig.json but "
                f"{paths.channel_dir(channel.name)} does not exist"
            )
    return TrainingConfig(
        hyperparameters=decoded,
        raw_hyperparameters=raw,
        framework_parameters=framework,
        channels=channels,
        resources=_resources(_load(paths.resourceconfig_file)),
    )
