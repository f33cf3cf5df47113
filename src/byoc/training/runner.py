"""Run the user's training program under the SageMaker training contract."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
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

__all__ = [
    "FAILURE_REASON_CHARS",
    "failure_summary",
    "locate_program",
    "run_training",
    "wait_for_hosts",
    "write_failure",
]

log = logging.getLogger("byoc.training")

FAILURE_REASON_CHARS = 1024  # what SageMaker shows as FailureReason
_TAIL_BYTES = 16 * 1024
_TRACEBACK = "Traceback (most recent call last):"


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


def _exception_line(stderr: str) -> str | None:
    """The ``Type: message`` line of the last Python traceback in ``stderr``."""
    lines = stderr.splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)), default=-1)
    if start >= 0:
        for line in lines[start + 1 :]:
            if line and not line[0].isspace() and not line.startswith(_TRACEBACK):
                return line.strip()
    return None


def failure_summary(returncode: int, stderr: str, program: str, stopped: bool) -> str:
    """The first line of the failure file: what went wrong, error type first."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        how = f"was killed by {name}"
        if -returncode == signal.SIGKILL:
            how += " (most likely out of memory: the kernel's OOM killer sends SIGKILL)"
    else:
        how = f"exited with code {returncode}"
    if stopped:
        how += " after SIGTERM (StopTrainingJob or MaxRuntime)"
    cause = _exception_line(stderr)
    if cause is None:
        last = [line.strip() for line in stderr.splitlines() if line.strip()]
        cause = last[-1] if last else None
        if cause and "MemoryError" in stderr:
            cause = "MemoryError: " + cause
    summary = f"AlgorithmError: training program {program} {how}"
    return f"{summary}: {cause}" if cause else summary


def write_failure(paths: MLPaths, summary: str, details: str = "") -> None:
    """Write ``/opt/ml/output/failure``: summary first (SageMaker keeps 1024 characters)."""
    text = summary.rstrip() + "\n"
    if details.strip():
        text += "\n" + details.strip() + "\n"
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(text)
    except OSError as exc:
        log.error("cannot write %s: %s", paths.failure_file, exc)
    log.error("%s", summary)


class _StderrTee:
    """Copy the child's stderr to ours as it comes, keeping the last bytes for the failure file."""

    def __init__(self, source: int) -> None:
        self._source = source
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._pump, name="byoc-stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        while True:
            try:
                chunk = os.read(self._source, 65536)
            except OSError:
                break
            if not chunk:
                break
            if out is not None:
                with contextlib.suppress(OSError, ValueError):
                    out.write(chunk)
                    out.flush()
            self._tail += chunk
            if len(self._tail) > _TAIL_BYTES:
                del self._tail[: len(self._tail) - _TAIL_BYTES]

    def text(self) -> str:
        self._thread.join(10)
        return self._tail.decode("utf-8", "replace")


def _prepare(paths: MLPaths) -> None:
    for directory in paths.training_output_dirs:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"cannot create {directory}: {exc.strerror}") from None
    with contextlib.suppress(FileNotFoundError):
        paths.failure_file.unlink()  # a stale failure from an earlier local run


def run_training(paths: MLPaths | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one training job; return the process exit code (0 = success)."""
    environ = dict(os.environ if env is None else env)
    paths = paths or MLPaths(Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_ROOT))
    stop = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        log.info("received %s: passing it on to the training program", signal.Signals(signum).name)
        for process in child:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _prepare(paths)
        config = read_config(paths)
        argv, program, cwd = locate_program(paths, config, environ)
        if config.resources.is_distributed:
            timeout = float(environ.get("BYOC_HOST_WAIT_SECONDS") or 300)
            log.info("waiting for hosts %s", ", ".join(config.resources.hosts))
            wait_for_hosts(config.resources.hosts, timeout, stop=stop)
        child_env = {
            **environ,
            **training_env(paths, config, program),
            "PYTHONUNBUFFERED": "1",
        }
        args = hyperparameter_args(config)
        log.info("running %s", shlex.join([*argv, *args]))
        process = subprocess.Popen([*argv, *args], env=child_env, cwd=cwd, stderr=subprocess.PIPE)
        child.append(process)
        if stop.is_set():  # SIGTERM arrived while starting
            process.send_signal(signal.SIGTERM)
        assert process.stderr is not None
        tee = _StderrTee(process.stderr.fileno())
        returncode = process.wait()
        stderr = tee.text()
        process.stderr.close()
        if returncode == 0:
            log.info("training program %s succeeded", program)
            return 0
        own = ""
        if paths.failure_file.exists():  # the program wrote one itself: it follows ours
            own = paths.failure_file.read_text(errors="replace").strip()
        tail = "stderr (last lines):\n" + stderr[-3000:].strip()
        write_failure(
            paths,
            failure_summary(returncode, stderr, program, stop.is_set()),
            "\n\n".join(part for part in (own, tail) if part),
        )
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
