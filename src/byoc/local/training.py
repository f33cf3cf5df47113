"""The training-job emulator: ``docker run IMAGE train`` on a job directory, as SageMaker runs it.

``input/``, ``model/``, ``output/`` and ``checkpoints/`` of the job directory
(``local_test/test_dir``) are mounted under ``/opt/ml``; ``max_runtime`` emulates
StopTrainingJob (SIGTERM, SIGKILL 120 s later); ``hosts=N`` runs N containers
``algo-1..algo-N`` on a private Docker network with per-host ``resourceconfig.json``. On
success the model is packed into ``output/model.tar.gz`` (and ``output/data`` into
``output/output.tar.gz``), as SageMaker uploads them; on failure the FailureReason is the
first 1024 characters of ``output/failure``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..training.runner import FAILURE_REASON_CHARS
from .archive import pack
from .engine import DockerError, docker

__all__ = ["STOP_GRACE_TRAIN", "TrainingResult", "train"]

STOP_GRACE_TRAIN = 120  # StopTrainingJob: SIGTERM, then SIGKILL 120 s later


@dataclass
class TrainingResult:
    exit_code: int
    failure_reason: str | None
    seconds: float
    stopped: bool
    model_archive: Path | None


def _job_dirs(job: Path) -> dict[str, Path]:
    dirs = {name: job / name for name in ("input", "model", "output", "checkpoints")}
    if not (dirs["input"] / "config").is_dir():
        raise DockerError(f"{job} has no input/config directory (an /opt/ml tree is expected)")
    for name in ("model", "output", "checkpoints"):
        dirs[name].mkdir(parents=True, exist_ok=True)
    return dirs


def _resourceconfig(host: str, hosts: list[str]) -> str:
    return json.dumps(
        {
            "current_host": host,
            "hosts": hosts,
            "network_interface_name": "eth0",
            "current_instance_type": "local",
            "current_group_name": "homogeneousCluster",
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": "local",
                    "hosts": hosts,
                }
            ],
        }
    )


def train(
    image: str,
    job: Path,
    hosts: int = 1,
    env: dict[str, str] | None = None,
    max_runtime: float | None = None,
    stop_grace: int = STOP_GRACE_TRAIN,
    network: bool = True,
    stream: bool = True,
    command: Sequence[str] = ("train",),
) -> TrainingResult:
    """Run a training job locally; ``job`` is an /opt/ml tree (``input/config``, ``input/data``).

    ``command`` is what follows the image (SageMaker passes ``train``; SDK v3 passes nothing).
    """
    dirs = _job_dirs(job)
    for stale in (dirs["output"] / "failure", dirs["output"] / "model.tar.gz"):
        stale.unlink(missing_ok=True)
    run_id = uuid.uuid4().hex[:8]
    names = [f"algo-{i}" for i in range(1, hosts + 1)]
    scratch = Path(tempfile.mkdtemp(prefix="byoc-train-"))
    network_name = f"byoc-train-{run_id}"
    containers: list[str] = []
    try:
        if hosts > 1:
            docker("network", "create", *([] if network else ["--internal"]), network_name)
        for host in names:
            config_dir = scratch / host / "config"
            shutil.copytree(dirs["input"] / "config", config_dir)
            (config_dir / "resourceconfig.json").write_text(_resourceconfig(host, names))
            primary = host == "algo-1"
            model_dir = dirs["model"] if primary else scratch / host / "model"
            output_dir = dirs["output"] if primary else scratch / host / "output"
            checkpoints = dirs["checkpoints"] if primary else scratch / host / "checkpoints"
            for directory in (model_dir, output_dir, checkpoints):
                directory.mkdir(parents=True, exist_ok=True)
            container = f"byoc-{host}-{run_id}"
            args = [
                "create", "--name", container, "--hostname", host,
                "-v", f"{dirs['input'].resolve()}:/opt/ml/input",
                "-v", f"{config_dir}:/opt/ml/input/config",
                "-v", f"{model_dir.resolve()}:/opt/ml/model",
                "-v", f"{output_dir.resolve()}:/opt/ml/output",
                "-v", f"{checkpoints.resolve()}:/opt/ml/checkpoints",
            ]  # fmt: skip
            if hosts > 1:
                args += ["--network", network_name, "--network-alias", host]
            elif not network:
                args += ["--network", "none"]
            for key, value in (env or {}).items():
                args += ["-e", f"{key}={value}"]
            docker(*args, image, *command)
            containers.append(container)
        for container in containers:  # all hosts come up together, as on SageMaker
            docker("start", container)
        started = time.monotonic()
        followers = (
            [
                threading.Thread(target=_follow, args=(c, len(containers) > 1), daemon=True)
                for c in containers
            ]
            if stream
            else []
        )
        for follower in followers:
            follower.start()
        stopped = False
        codes: dict[str, int] = {}
        while len(codes) < len(containers):
            for container in containers:
                if container in codes:
                    continue
                state = docker(
                    "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", container,
                    check=False,
                )  # fmt: skip
                if state.returncode != 0:  # removed under us (e.g. by a caller's clean-up)
                    _say(f"{container} is gone: {state.stderr.strip()[:200]}")
                    codes[container] = 137
                    continue
                running, code = state.stdout.split()
                if running == "false":
                    codes[container] = int(code)
            if not stopped and max_runtime is not None and time.monotonic() - started > max_runtime:
                stopped = True
                _say(
                    f"MaxRuntime of {max_runtime:g}s reached: SIGTERM, SIGKILL after {stop_grace}s"
                )
                for container in containers:
                    if container not in codes:
                        threading.Thread(
                            target=docker,
                            args=("stop", "-t", str(stop_grace), container),
                            kwargs={"check": False, "timeout": stop_grace + 30},
                            daemon=True,
                        ).start()
            time.sleep(0.2)
        for follower in followers:
            follower.join(5)
        seconds = time.monotonic() - started
        exit_code = next((code for code in codes.values() if code != 0), 0)
        reason = None
        archive = None
        if exit_code == 0:
            archive = pack(dirs["model"], dirs["output"] / "model.tar.gz")
            data = dirs["output"] / "data"
            if data.is_dir() and any(data.iterdir()):
                pack(data, dirs["output"] / "output.tar.gz")
        else:
            failures = [scratch / h / "output" / "failure" for h in names[1:]]
            for failure in [dirs["output"] / "failure", *failures]:
                if failure.is_file():
                    reason = failure.read_text(errors="replace")[:FAILURE_REASON_CHARS]
                    break
            reason = reason or f"AlgorithmError: exit code {exit_code} and no failure file"
        return TrainingResult(exit_code, reason, seconds, stopped, archive)
    finally:
        for container in containers:
            docker("rm", "-f", container, check=False)
        if hosts > 1:
            docker("network", "rm", network_name, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def _follow(container: str, prefix: bool) -> None:
    process = subprocess.Popen(
        ["docker", "logs", "-f", container], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    for line in process.stdout:
        text = line.decode(errors="replace")
        sys.stdout.write(
            f"{container.split('-')[1]}-{container.split('-')[2]} | {text}" if prefix else text
        )
    process.wait()


def _say(message: str) -> None:
    sys.stderr.write(f"byoc local: {message}\n")
    sys.stderr.flush()
