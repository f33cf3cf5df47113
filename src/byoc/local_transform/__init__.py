"""``byoc local transform``: SageMaker batch transform around a ``serve`` container, locally.

``records`` splits files and packs requests, ``processing`` is the platform's data
processing (filters, join, assembly), ``config`` the job's settings, ``client`` the HTTP
to the container, ``runner`` the files through it, ``job`` the whole job, ``command`` the
click command.
"""

from __future__ import annotations

from .config import ConfigError, JobOptions, Resolved
from .job import run_job, transform_with
from .runner import FileOutcome, JobOutcome, input_files

__all__ = [
    "ConfigError",
    "FileOutcome",
    "JobOptions",
    "JobOutcome",
    "Resolved",
    "input_files",
    "run_job",
    "transform_with",
]
