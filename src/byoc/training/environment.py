"""The environment and arguments the user's training program gets (the AWS toolkit's)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..paths import MLPaths
from ..settings import cpu_count
from .config import TrainingConfig

__all__ = [
    "MASTER_PORT",
    "TF_WORKER_PORT",
    "distributed_env",
    "hyperparameter_args",
    "num_gpus",
    "training_env",
]

TF_WORKER_PORT = 8890
MASTER_PORT = 7777


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def num_gpus() -> int:
    """NVIDIA GPUs visible to this process (0 on CPU machines)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def hyperparameter_args(config: TrainingConfig) -> list[str]:
    """``--name value`` pairs, as the toolkit passes them (booleans as True/False)."""
    args: list[str] = []
    for name, value in config.hyperparameters.items():
        if isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value)
        args.extend((f"--{name}", text))
    return args


def distributed_env(config: TrainingConfig) -> dict[str, str]:
    """TF_CONFIG and the PyTorch rendezvous variables, for jobs on more than one host."""
    resources = config.resources
    if not resources.is_distributed:
        return {}
    index = resources.host_index
    tf_config = {
        "cluster": {"worker": [f"{host}:{TF_WORKER_PORT}" for host in resources.hosts]},
        "task": {"type": "worker", "index": index},
    }
    return {
        "TF_CONFIG": json.dumps(tf_config),
        "MASTER_ADDR": resources.hosts[0],
        "MASTER_PORT": str(MASTER_PORT),
        "WORLD_SIZE": str(len(resources.hosts)),
        "RANK": str(index),
    }


def training_env(
    paths: MLPaths,
    config: TrainingConfig,
    program: str,
    job_name: str | None = None,
) -> dict[str, str]:
    """The ``SM_*`` variables of the AWS training toolkit (plus ``SM_TRAINING_ENV``)."""
    resources = config.resources
    channel_dirs = {name: str(paths.channel_dir(name)) for name in config.channels}
    gpus = num_gpus()
    user_args = hyperparameter_args(config)
    summary: dict[str, Any] = {
        "additional_framework_parameters": config.framework_parameters,
        "channel_input_dirs": channel_dirs,
        "current_host": resources.current_host,
        "current_instance_group": resources.current_group_name,
        "current_instance_type": resources.current_instance_type,
        "hosts": list(resources.hosts),
        "hyperparameters": config.hyperparameters,
        "input_config_dir": str(paths.input_config_dir),
        "input_data_config": {
            name: {
                "ContentType": c.content_type,
                "TrainingInputMode": c.input_mode,
                "S3DistributionType": c.s3_distribution_type,
                "RecordWrapperType": c.record_wrapper_type,
            }
            for name, c in config.channels.items()
        },
        "input_dir": str(paths.input_dir),
        "is_master": resources.host_index == 0,
        "job_name": job_name or config.framework_parameters.get("sagemaker_job_name"),
        "log_level": 20,
        "model_dir": str(paths.model_dir),
        "module_name": Path(program).stem,
        "network_interface_name": resources.network_interface_name,
        "num_cpus": cpu_count(),
        "num_gpus": gpus,
        "output_data_dir": str(paths.output_data_dir),
        "output_dir": str(paths.output_dir),
        "output_intermediate_dir": str(paths.output_intermediate_dir),
        "resource_config": {
            "current_host": resources.current_host,
            "hosts": list(resources.hosts),
            "network_interface_name": resources.network_interface_name,
        },
        "user_entry_point": program,
        "checkpoint_dir": str(paths.checkpoints_dir),
    }
    env: dict[str, str] = {
        "SM_MODEL_DIR": str(paths.model_dir),
        "SM_CHANNELS": json.dumps(sorted(config.channels)),
        "SM_HPS": json.dumps(config.hyperparameters),
        "SM_HOSTS": json.dumps(list(resources.hosts)),
        "SM_CURRENT_HOST": resources.current_host,
        "SM_CURRENT_INSTANCE_TYPE": resources.current_instance_type,
        "SM_NETWORK_INTERFACE_NAME": resources.network_interface_name,
        "SM_NUM_CPUS": str(cpu_count()),
        "SM_NUM_GPUS": str(gpus),
        "SM_INPUT_DIR": str(paths.input_dir),
        "SM_INPUT_CONFIG_DIR": str(paths.input_config_dir),
        "SM_OUTPUT_DIR": str(paths.output_dir),
        "SM_OUTPUT_DATA_DIR": str(paths.output_data_dir),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(paths.output_intermediate_dir),
        "SM_CHECKPOINT_DIR": str(paths.checkpoints_dir),
        "SM_MODULE_NAME": Path(program).stem,
        "SM_USER_ENTRY_POINT": program,
        "SM_USER_ARGS": json.dumps(user_args),
        "SM_INPUT_DATA_CONFIG": json.dumps(summary["input_data_config"]),
        "SM_RESOURCE_CONFIG": json.dumps(summary["resource_config"]),
        "SM_FRAMEWORK_PARAMS": json.dumps(config.framework_parameters),
        "SM_IS_MASTER": json.dumps(summary["is_master"]),
        "SM_TRAINING_ENV": json.dumps(summary),
    }
    for name, directory in channel_dirs.items():
        env[f"SM_CHANNEL_{_env_name(name)}"] = directory
    for name, value in config.hyperparameters.items():
        env[f"SM_HP_{_env_name(name)}"] = _env_value(value)
    env.update(distributed_env(config))
    return env
