"""Run the user's training program under the SageMaker training contract."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from ..paths import DEFAULT_ROOT, MLPaths
from .config import TrainingConfig, read_config
from .environment import hyperparameter_args, training_env
from .errors import TrainingError
from .failure import FAILURE_REASON_CHARS, failure_summary, write_failure
from .supervisor import DEFAULT_GRACE_SECONDS, Supervisor

__all__ = [
    "FAILURE_REASON_CHARS",
    "failure_summary",
    "locate_program",
    "run_training",
    "wait_for_hosts",
    "write_failure",
]

log = logging.getLogger("byoc.training")

MAX_GRACE_SECONDS = 115.0  # SageMaker's SIGKILL comes 120 s after SIGTERM


def locate_program(
    paths: MLPaths, config: TrainingConfig, env: Mapping[str, str]
) -> tuple[list[str], str, Path | None]:
    """``(argv prefix, program name, working directory)`` for the user's program.

    Order: ``BYOC_TRAINING_COMMAND`` (a command line), ``BYOC_TRAINING_PROGRAM`` (a
    script path or a module name), the SDK's ``sagemaker_program`` hyperparameter
    (looked up in a local ``sagemaker_submit_directory``, then ``/opt/ml/code``), and
    finally ``/opt/ml/code/train.py``.
    """
    command = (env.get("BYOC_TRAINING_COMMAND") or "").strip()
    if command:
        argv = shlex.split(command)
        return argv, argv[0], None
    program = (env.get("BYOC_TRAINING_PROGRAM") or "").strip()
    if program:
        if program.endswith(".py") or "/" in program:
            path = Path(program).resolve()
            if not path.is_file():
                raise TrainingError(f"BYOC_TRAINING_PROGRAM={program!r}: no such file")
            return [sys.executable, str(path)], str(path), path.parent
        return [sys.executable, "-m", program], program, None
    candidates: list[Path] = []
    sdk_program = config.framework_parameters.get("sagemaker_program")
    if sdk_program:
        submit = str(config.framework_parameters.get("sagemaker_submit_directory") or "")
        if submit.startswith("s3://"):
            code = paths.code_dir / str(sdk_program)
            if not code.is_file():
                raise TrainingError(
                    f"sagemaker_submit_directory is {submit}: byoc does not download source "
                    f"from S3; bake the code into the image at {paths.code_dir}"
                )
        elif submit:
            candidates.append(Path(submit.removeprefix("file://")) / str(sdk_program))
        candidates.append(paths.code_dir / str(sdk_program))
    candidates.append(paths.code_dir / "train.py")
    for candidate in candidates:
        if candidate.is_file():
            path = candidate.resolve()
            return [sys.executable, str(path)], str(path), path.parent
    raise TrainingError(
        "no training program found: set BYOC_TRAINING_PROGRAM (script or module) or "
        f"BYOC_TRAINING_COMMAND, or put one at {' or '.join(str(c) for c in candidates)}"
    )


def wait_for_hosts(
    hosts: tuple[str, ...],
    timeout: float,
    resolve: Callable[[str], object] = socket.gethostbyname,
    stop: threading.Event | None = None,
) -> None:
    """Block until every host name resolves (the other containers are up), bounded."""
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        still: list[str] = []
        for host in pending:
            try:
                resolve(host)
            except OSError:
                still.append(host)
        pending = still
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TrainingError(
                f"hosts {', '.join(pending)} did not resolve within {timeout:g}s",
                kind="AlgorithmError",
                exit_code=1,
            )
        if stop is not None and stop.wait(1.0):
            raise TrainingError("stopped (SIGTERM) while waiting for hosts", exit_code=143)
        if stop is None:
            time.sleep(1.0)


def _prepare(paths: MLPaths) -> None:
    for directory in paths.training_output_dirs:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"cannot create {directory}: {exc.strerror}") from None
    with contextlib.suppress(FileNotFoundError):
        paths.failure_file.unlink()  # a stale failure from an earlier local run


def _seconds(
    environ: Mapping[str, str], name: str, default: float, low: float, high: float
) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for nan
        raise TrainingError(f"{name}={raw!r}: must be a number of seconds from {low:g} to {high:g}")
    return value


def run_training(paths: MLPaths | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one training job; return the process exit code (0 = success)."""
    environ = dict(os.environ if env is None else env)
    paths = paths or MLPaths(Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_ROOT))
    supervisor = Supervisor()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: passing it on to the training program", signal.Signals(signum).name)
        supervisor.forward(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        supervisor.grace = _seconds(
            environ, "BYOC_TRAINING_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, 1, MAX_GRACE_SECONDS
        )
        _prepare(paths)
        config = read_config(paths)
        argv, program, cwd = locate_program(paths, config, environ)
        if config.resources.is_distributed:
            timeout = _seconds(environ, "BYOC_HOST_WAIT_SECONDS", 300, 0, 86400)
            log.info("waiting for hosts %s", ", ".join(config.resources.hosts))
            wait_for_hosts(config.resources.hosts, timeout, stop=supervisor.stop)
        child_env = {
            **environ,
            **training_env(paths, config, program),
            "PYTHONUNBUFFERED": "1",
        }
        args = hyperparameter_args(config)
        log.info("running %s", shlex.join([*argv, *args]))
        outcome = supervisor.run([*argv, *args], child_env, cwd)
        returncode = outcome.returncode
        if returncode == 0:
            log.info("training program %s succeeded", program)
            return 0
        own = ""
        if paths.failure_file.exists():  # the program wrote one itself: it follows ours
            own = paths.failure_file.read_text(errors="replace").strip()
        tail = "stderr (last lines):\n" + outcome.stderr[-3000:].strip()
        summary = failure_summary(
            returncode,
            outcome.stderr,
            program,
            outcome.stopped,
            grace=supervisor.grace if outcome.killed_after_grace else None,
            oom=outcome.oom,
        )
        write_failure(paths, summary, "\n\n".join(part for part in (own, tail) if part))
        return returncode if returncode > 0 else 128 - returncode
    except TrainingError as exc:
        write_failure(paths, str(exc))
        return exc.exit_code
    except Exception as exc:  # a bug of ours: still leave a useful failure reason
        log.exception("training runtime failed")
        write_failure(paths, f"InternalError: {type(exc).__name__}: {exc}")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
