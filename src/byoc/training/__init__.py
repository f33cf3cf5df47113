"""The training runtime: ``docker run IMAGE train`` under the ``/opt/ml`` training contract.

:func:`run_training` reads the config files, builds the AWS training toolkit's
environment (``SM_*``), runs the user's program with hyperparameters as arguments,
passes SIGTERM on, and writes ``/opt/ml/output/failure`` when anything goes wrong.
"""

from __future__ import annotations

from .config import ChannelConfig, ResourceConfig, TrainingConfig, read_config
from .errors import TrainingError
from .runner import run_training

__all__ = [
    "ChannelConfig",
    "ResourceConfig",
    "TrainingConfig",
    "TrainingError",
    "read_config",
    "run_training",
]
