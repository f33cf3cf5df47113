"""Run an image locally the way SageMaker runs it: ``byoc local serve|train IMAGE``.

Serving: ``docker run IMAGE serve`` with the model at ``/opt/ml/model`` (a directory, or a
``model.tar.gz`` unpacked first), port 8080 published on 127.0.0.1, the environment an
endpoint gets, no AWS credentials, optionally no outside network; then the health check
SageMaker applies (``/ping`` answering 200, each probe within 2 s, healthy within the
start-up timeout), reporting what SageMaker would when it fails.

Training: ``docker run IMAGE train`` with ``input/``, ``model/``, ``output/`` and
``checkpoints/`` of a job directory (``local_test/test_dir``) mounted under ``/opt/ml``;
``--max-runtime`` emulates StopTrainingJob (SIGTERM, SIGKILL 120 s later); ``--hosts N``
runs N containers ``algo-1..algo-N`` on a private Docker network with per-host
``resourceconfig.json``. On success the model is packed into ``output/model.tar.gz``
(and ``output/data`` into ``output/output.tar.gz``), as SageMaker uploads them; on failure
the FailureReason (the first 1024 characters of ``output/failure``) is printed.

Modules: ``engine`` (the docker command, run and inspect helpers), ``endpoint`` (serve and
the health check), ``training`` (the training-job emulator), ``archive`` (``model.tar.gz``).
"""

from .archive import pack, unpack_model
from .endpoint import (
    ISOLATED_NETWORK,
    PING_TIMEOUT,
    STARTUP_TIMEOUT,
    STOP_GRACE_SERVE,
    Endpoint,
    error_message,
    http_request,
    start_endpoint,
)
from .engine import (
    DockerError,
    container_ip,
    default_image,
    docker,
    docker_available,
    parse_env,
)
from .training import STOP_GRACE_TRAIN, TrainingResult, train

__all__ = [
    "ISOLATED_NETWORK",
    "PING_TIMEOUT",
    "STARTUP_TIMEOUT",
    "STOP_GRACE_SERVE",
    "STOP_GRACE_TRAIN",
    "DockerError",
    "Endpoint",
    "TrainingResult",
    "container_ip",
    "default_image",
    "docker",
    "docker_available",
    "error_message",
    "http_request",
    "pack",
    "parse_env",
    "start_endpoint",
    "train",
    "unpack_model",
]
