"""The container's ENTRYPOINT: ``serve`` or ``train`` (SageMaker's argument), as a non-root user.

The image starts as root only so that it can hand the ``/opt/ml`` directories SageMaker
(or the SDK's local mode, which mounts root-owned ``mkdtemp`` directories) gives it to the
``byoc`` user; then it drops privileges and ``exec``s, so the server or trainer is PID 1
and receives SIGTERM itself. ``BYOC_USER=root`` keeps root. If a directory the job must
read cannot be made accessible, it stays root and says why, rather than failing the job.

The image has no CMD, so the command is decided here. An explicit ``serve`` or ``train``
(SageMaker, SDK v2's local mode) always wins. With none — SDK v3's local training
(``ModelTrainer``) starts the service with no command, a plain ``docker run IMAGE`` too —
it trains when the container looks like a training job (``TRAINING_JOB_NAME`` is set or
SageMaker's ``/opt/ml/input/config/*.json`` files are there) and serves otherwise.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from .paths import DEFAULT_ROOT, MLPaths

__all__ = ["main"]

COMMANDS = {"serve": ("byoc", "serve"), "train": ("byoc", "train")}


def _say(message: str) -> None:
    sys.stderr.write(f"byoc-entrypoint: {message}\n")
    sys.stderr.flush()


def can_access(path: Path, uid: int, gids: set[int], mode: int) -> bool:
    """Whether ``uid`` could ``mode`` (R_OK/W_OK bits) ``path``, checking every parent too."""
    need = {os.R_OK: 4, os.W_OK: 2, os.R_OK | os.W_OK: 6}[mode]
    target = path.resolve()
    for index, part in enumerate((*reversed(target.parents), target)):
        try:
            info = part.stat()
        except OSError:
            return False
        wanted = need | 1 if index == len(target.parents) else 1  # search bit on parents
        if info.st_uid == uid:
            bits = (info.st_mode >> 6) & 7
        elif info.st_gid in gids:
            bits = (info.st_mode >> 3) & 7
        else:
            bits = info.st_mode & 7
        if bits & wanted != wanted:
            return False
    return True


def _prepare_training(paths: MLPaths, uid: int, gid: int) -> list[str]:
    """Give the user the directories training writes; return what it still cannot use."""
    problems = []
    for directory in paths.training_output_dirs:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not can_access(directory, uid, {gid}, os.W_OK | os.R_OK):
                os.chown(directory, uid, gid)
        except OSError as exc:
            problems.append(f"{directory}: {exc.strerror}")
    if paths.data_dir.exists() and not can_access(paths.data_dir, uid, {gid}, os.R_OK):
        problems.append(f"{paths.data_dir} is not readable")
    return problems


def _prepare_serving(paths: MLPaths, uid: int, gid: int) -> list[str]:
    problems = []
    for directory in (paths.model_dir, paths.code_dir, paths.models_dir):
        if directory.exists() and not can_access(directory, uid, {gid}, os.R_OK):
            mode = stat.filemode(directory.stat().st_mode)
            problems.append(f"{directory} ({mode}, uid {directory.stat().st_uid}) is not readable")
    return problems


TRAINING_CONFIG_FILES = ("hyperparameters.json", "inputdataconfig.json", "resourceconfig.json")


def default_command(env: Mapping[str, str], paths: MLPaths) -> tuple[str, str]:
    """``train`` or ``serve`` for a container started with no command, and why."""
    if env.get("TRAINING_JOB_NAME"):
        return "train", "TRAINING_JOB_NAME is set"
    for name in TRAINING_CONFIG_FILES:
        if (paths.input_config_dir / name).is_file():
            return "train", f"{paths.input_config_dir / name} exists"
    return "serve", "no training job configuration"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    paths = MLPaths(Path(os.environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_ROOT))
    if args:
        command = args[0]
    else:
        command, why = default_command(os.environ, paths)
        _say(f"no command given: {command} ({why})")
    if command not in COMMANDS:
        os.execvp(command, args)  # any other command runs as given (e.g. bash)
    program = [*COMMANDS[command], *args[1:]]
    user = os.environ.get("BYOC_USER", "byoc")
    if os.geteuid() != 0 or user == "root":
        os.execvp(program[0], program)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        _say(f"user {user!r} does not exist: running as root")
        os.execvp(program[0], program)
    prepare = _prepare_training if command == "train" else _prepare_serving
    problems = prepare(paths, entry.pw_uid, entry.pw_gid)
    if problems:
        _say(f"staying root, as {user} cannot use: " + "; ".join(problems))
        os.execvp(program[0], program)
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except PermissionError:  # root without CAP_SETUID/CAP_SETGID (docker run --cap-drop ALL)
        _say(f"cannot switch to {user} (no CAP_SETUID/CAP_SETGID): running as root")
        os.execvp(program[0], program)
    os.environ["HOME"] = entry.pw_dir
    os.execvp(program[0], program)
