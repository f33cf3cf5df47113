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
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .training.runner import FAILURE_REASON_CHARS

__all__ = [
    "DockerError",
    "Endpoint",
    "TrainingResult",
    "container_ip",
    "error_message",
    "http_request",
    "pack",
    "start_endpoint",
    "train",
    "unpack_model",
]

STARTUP_TIMEOUT = 240.0  # SageMaker's default ContainerStartupHealthCheckTimeoutInSeconds
PING_TIMEOUT = 2.0
STOP_GRACE_SERVE = 30  # SIGTERM, then SIGKILL 30 s later
STOP_GRACE_TRAIN = 120  # StopTrainingJob: SIGTERM, then SIGKILL 120 s later
ISOLATED_NETWORK = "byoc-isolated"
_ENDPOINT_ENV = {
    "SAGEMAKER_BIND_TO_PORT": "8080",
    "SAGEMAKER_SAFE_PORT_RANGE": "20000-20999",
}


class DockerError(RuntimeError):
    """Docker is missing, or a docker command failed; the message says which."""


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker") is None:
        raise DockerError("the docker command is not installed")
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result


def docker_available() -> str | None:
    """``None`` when a Docker daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        result = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, check=False, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer `docker info` within 30 s"
    if result.returncode != 0:
        return "the Docker daemon is not running (" + result.stderr.strip().splitlines()[-1] + ")"
    return None


def container_ip(name: str, network: str | None = None) -> str:
    template = (
        f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        if network
        else "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    )
    ip = docker("inspect", "-f", template, name).stdout.split()
    if not ip:
        raise DockerError(f"container {name} has no IP address")
    return ip[0]


def unpack_model(archive: Path) -> Path:
    """Unpack ``model.tar.gz`` into a temporary directory (refusing paths that escape it)."""
    target = Path(tempfile.mkdtemp(prefix="byoc-model-"))
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    target.chmod(0o755)
    return target


def pack(directory: Path, archive: Path) -> Path:
    """``directory``'s contents into ``archive`` (``model.tar.gz`` layout: no top folder)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(directory.iterdir()):
            tar.add(item, arcname=item.name)
    return archive


def error_message(body: bytes, limit: int = 500) -> str:
    """A container's answer in one line: its JSON ``message`` if it has one, else the body."""
    text = body.decode(errors="replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            text = parsed["message"]
    except ValueError:
        pass
    return text[:limit] or "(empty body)"


def http_request(
    url: str, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Endpoint:
    """A running local endpoint container."""

    name: str
    url: str
    model_dir: Path
    started: float
    healthy_after: float | None = None
    cleanup: list[Path] = field(default_factory=list)

    def logs(self, tail: int = 50) -> str:
        result = docker("logs", "--tail", str(tail), self.name, check=False)
        return (result.stdout + result.stderr).strip()

    def running(self) -> bool:
        result = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def exit_code(self) -> int | None:
        result = docker("inspect", "-f", "{{.State.ExitCode}}", self.name, check=False)
        return int(result.stdout.strip()) if result.stdout.strip().lstrip("-").isdigit() else None

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Poll /ping like SageMaker: 200 within 2 s per probe, healthy within ``timeout``."""
        deadline = self.started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running():
                raise DockerError(
                    f"the container exited with code {self.exit_code()} before passing the "
                    f"ping health check. Last log lines:\n{self.logs()}"
                )
            try:
                status, body = http_request(self.url + "/ping", PING_TIMEOUT)
                if status == 200:
                    self.healthy_after = time.monotonic() - self.started
                    return self.healthy_after
                last = f"/ping answered {status} {body[:200].decode(errors='replace')}"
            except (OSError, TimeoutError) as exc:
                last = f"/ping: {exc}"
            time.sleep(0.25)
        raise DockerError(
            f"the container did not pass the ping health check within {timeout:g}s "
            f"(last: {last}). Last log lines:\n{self.logs()}"
        )

    def invoke(
        self, body: bytes, content_type: str, accept: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return http_request(self.url + "/invocations", 60, body, headers)

    def stop(self, grace: int = STOP_GRACE_SERVE) -> int | None:
        docker("stop", "-t", str(grace), self.name, check=False, timeout=grace + 30)
        code = self.exit_code()
        docker("rm", "-f", self.name, check=False)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        return code


def _ensure_isolated_network() -> str:
    if docker("network", "inspect", ISOLATED_NETWORK, check=False).returncode != 0:
        docker("network", "create", "--internal", ISOLATED_NETWORK, check=False)
    return ISOLATED_NETWORK


def start_endpoint(
    image: str,
    model: Path,
    port: int = 8080,
    env: dict[str, str] | None = None,
    isolated: bool = False,
    name: str | None = None,
    command: Sequence[str] = ("serve",),
    mounts: dict[Path, str] | None = None,
) -> Endpoint:
    """``docker run IMAGE serve`` as an endpoint would; returns before it is healthy.

    ``mounts`` adds read-only host directories (host path → container path).
    """
    cleanup: list[Path] = []
    if model.is_file():
        model = unpack_model(model)
        cleanup.append(model)
    if not model.is_dir():
        raise DockerError(f"model {model} is neither a directory nor a model.tar.gz")
    name = name or f"byoc-serve-{uuid.uuid4().hex[:8]}"
    args = ["run", "-d", "--name", name, "-v", f"{model.resolve()}:/opt/ml/model:ro"]
    for host, target in (mounts or {}).items():
        args += ["-v", f"{host.resolve()}:{target}:ro"]
    if isolated:
        args += ["--network", _ensure_isolated_network()]
    else:
        args += ["-p", f"127.0.0.1:{port}:8080"]
    for key, value in {**_ENDPOINT_ENV, **(env or {})}.items():
        args += ["-e", f"{key}={value}"]
    started = time.monotonic()
    docker(*args, image, *command)
    url = (
        f"http://{container_ip(name, ISOLATED_NETWORK)}:8080"
        if isolated
        else f"http://127.0.0.1:{port}"
    )
    return Endpoint(name, url, model, started, cleanup=cleanup)


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
                state = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", container)
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


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def default_image() -> str:
    return os.environ.get("BYOC_IMAGE", "byoc:latest")
