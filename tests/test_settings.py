from __future__ import annotations

import logging
from pathlib import Path

import pytest

from byoc.errors import SettingsError
from byoc.settings import Settings, cpu_count


def test_defaults_are_sagemakers() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.paths.model_dir == Path("/opt/ml/model")
    assert settings.workers == cpu_count()
    assert settings.timeout == 60
    assert settings.max_payload_bytes == 6 * 1024 * 1024
    assert settings.default_accept is None
    assert settings.program == "inference.py"
    assert settings.preload is False
    assert settings.log_level == logging.INFO
    assert settings.threads == 8
    assert settings.max_batch_size == 1  # batching off


def test_batching_settings_and_threads_follow_the_batch_size() -> None:
    settings = Settings.from_env({"BYOC_MAX_BATCH_SIZE": "32", "BYOC_MAX_BATCH_DELAY_MS": "5"})
    assert (settings.max_batch_size, settings.max_batch_delay_ms) == (32, 5.0)
    assert settings.threads == 32  # a batch holds at most one request per thread
    explicit = Settings.from_env({"BYOC_MAX_BATCH_SIZE": "32", "BYOC_THREADS": "4"})
    assert explicit.threads == 4


def test_environment_is_read() -> None:
    settings = Settings.from_env(
        {
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "SAGEMAKER_SAFE_PORT_RANGE": "20000-20999",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "25",
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            "SAGEMAKER_BASE_DIR": "/tmp/ml",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "10",
            "BYOC_PRELOAD_MODEL": "TRUE",
            "BYOC_LOG_FORMAT": "json",
        }
    )
    assert settings.port == 9000
    assert settings.safe_port_range == (20000, 20999)
    assert settings.workers == 3
    assert settings.timeout == 120
    assert settings.max_payload_bytes == 25 * 1024 * 1024
    assert settings.default_accept == "text/csv"
    assert settings.paths.model_dir == Path("/tmp/ml/model")
    assert settings.log_level == logging.DEBUG
    assert settings.preload is True
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SAGEMAKER_BIND_TO_PORT": "http"},
            "SAGEMAKER_BIND_TO_PORT='http': must be a whole number",
        ),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "between 1 and 65535"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "lots"}, "must be a number"),
        ({"BYOC_PRELOAD_MODEL": "maybe"}, "must be true or false"),
        ({"BYOC_LOG_FORMAT": "xml"}, "must be one of text, json"),
        ({"BYOC_ACCEPT_DEFAULT": "csv"}, "BYOC_ACCEPT_DEFAULT='csv': must be one of json, request"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "20000"}, "20000-20999"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "json"}, "must be a media type"),
        ({"SAGEMAKER_CONTAINER_LOG_LEVEL": "LOUD"}, "level name"),
        ({"BYOC_MAX_BATCH_SIZE": "0"}, "BYOC_MAX_BATCH_SIZE"),
        ({"BYOC_MAX_BATCH_DELAY_MS": "-1"}, "BYOC_MAX_BATCH_DELAY_MS"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env)
