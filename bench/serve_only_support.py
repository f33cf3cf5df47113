"""Docker side of bench/serve_only.py: the images, the model, the containers it starts (and
removes), their first prediction, their memory, and the load sent to them."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_config import REPO_DIR, BenchError, log
from bench_load import cpu_snapshot, cpu_usage, run_wrk
from bench_measure import http_post
from bench_procs import free_port, smaps_rollup

ONE_CAR = "4,140,86,2790,15.6,82,1"
CHECK_ROWS = (
    ONE_CAR,
    "8,307,130,3504,12,70,1",
    "4,97,88,2130,14.5,70,3",
    "6,225,100,3233,15.4,76,1",
)
CONTAINER_PORT = 8080
POLL_S = 0.01  # between two tries of the first prediction
TRY_TIMEOUT_S = 0.5  # one try; the connection is refused or reset at once until it serves
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """``docker ARGS``'s stdout; a BenchError naming the command when it fails."""
    try:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"docker {' '.join(args[:3])}: no answer in {timeout:g} s") from None
    if check and p.returncode != 0:
        raise BenchError(f"docker {' '.join(args[:3])} exited {p.returncode}: {p.stderr[-500:]}")
    return p.stdout


def build_image(base: str, serve_only: bool, build_log: Path) -> str:
    """container/build.sh (``--serve-only``); the tag it prints on its last line."""
    argv = [str(REPO_DIR / "container" / "build.sh"), "--base", base, "--name", "byoc-dev"]
    argv += ["--serve-only"] if serve_only else []
    log(f"building: {' '.join(argv)} (log: {build_log})")
    env = os.environ | ({"PIP_CERT": CA_BUNDLE} if Path(CA_BUNDLE).is_file() else {})
    with open(build_log, "wb") as err:
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, env=env, timeout=3600)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{argv[0]} did not finish in an hour (log: {build_log})") from None
    lines = p.stdout.decode().split()
    if p.returncode != 0 or not lines:
        raise BenchError(f"{argv[0]} exited {p.returncode} (log: {build_log})")
    return lines[-1]


def image_size(image: str) -> int:
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).strip())


def train_model(image: str, root: Path) -> Path:
    """The worked example trained by ``image`` as a network-isolated local training job."""
    from byoc.local import train  # here only: the script needs byoc only to train

    job = root / "job"
    shutil.copytree(REPO_DIR / "local_test" / "test_dir" / "input", job / "input")
    hyper = {"epochs": "40", "patience": "5"}
    (job / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyper))
    log(f"training the Auto MPG model with {image} in {job}")
    result = train(image, job, network=False, stream=False)
    if result.exit_code != 0:
        raise BenchError(f"training exited {result.exit_code}: {result.failure_reason}")
    log(f"trained in {result.seconds:.0f} s")
    return job / "model"


@dataclass
class Container:
    name: str
    image: str
    port: int
    t_run: float  # monotonic, just before ``docker run -d``


class Containers:
    """Every container this run starts, so that ``remove_all`` (in a finally) removes them."""

    def __init__(self, model: Path, env: dict[str, str]) -> None:
        self.model = model.resolve()
        self.env = env
        self.run_id = uuid.uuid4().hex[:8]
        self.names: list[str] = []

    def start(self, image: str, cpuset: str = "") -> Container:
        name = f"byoc-bench-serve-only-{self.run_id}-{len(self.names)}"
        port = free_port()
        argv = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{CONTAINER_PORT}"]
        argv += ["-v", f"{self.model}:/opt/ml/model:ro"]
        argv += [f"--cpuset-cpus={cpuset}"] if cpuset else []
        for key, value in self.env.items():
            argv += ["-e", f"{key}={value}"]
        self.names.append(name)  # before it exists: a Ctrl-C during ``run`` still removes it
        t_run = time.monotonic()
        docker(*argv, image, "serve", timeout=60)
        return Container(name, image, port, t_run)

    def remove(self, c: Container) -> None:
        docker("rm", "-f", c.name, timeout=60, check=False)
        self.names.remove(c.name)

    def remove_all(self) -> None:
        for name in self.names:
            docker("rm", "-f", name, timeout=60, check=False)
        self.names.clear()


def logs(c: Container, lines: int = 30) -> str:
    try:
        p = subprocess.run(
            ["docker", "logs", "--tail", str(lines), c.name],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return "(docker logs did not answer)"
    return (p.stdout + p.stderr).strip()


def first_prediction(c: Container, timeout: float) -> float:
    """Seconds from just before ``docker run`` to the first 200 to one CSV row."""
    deadline = c.t_run + timeout
    next_check = time.monotonic() + 2
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            status, _, data = http_post(c.port, ONE_CAR.encode(), timeout=TRY_TIMEOUT_S)
            if status == 200:
                return time.monotonic() - c.t_run
            last = f"HTTP {status} {data[:200]!r}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > next_check:  # a container that died will not answer
            next_check = time.monotonic() + 2
            if docker("inspect", "-f", "{{.State.Running}}", c.name).strip() != "true":
                raise BenchError(f"{c.name} ({c.image}) exited:\n{logs(c)}")
        time.sleep(POLL_S)
    raise BenchError(f"{c.name} ({c.image}): no prediction in {timeout:g} s ({last})\n{logs(c)}")


def predictions(c: Container, rows: tuple[str, ...] = CHECK_ROWS) -> list[float]:
    status, _, data = http_post(c.port, "\n".join(rows).encode(), timeout=30)
    answer = json.loads(data) if status == 200 else None
    if not (isinstance(answer, list) and len(answer) == len(rows)):
        raise BenchError(f"{c.image}: {len(rows)} rows answered {status} {data[:200]!r}")
    return [float(v) for v in answer]


def container_pids(c: Container) -> list[int]:
    """Host PIDs of every process of the container."""
    pids = [int(word) for word in docker("top", c.name, "-eo", "pid").split() if word.isdigit()]
    if not pids:
        raise BenchError(f"{c.name}: docker top lists no process")
    return pids


def memory(c: Container) -> dict[str, Any]:
    """RSS and PSS summed over the container's processes (/proc/PID/smaps_rollup)."""
    pids = container_pids(c)
    rss = pss = 0
    for pid in pids:
        try:
            m = smaps_rollup(pid)
        except OSError as e:
            raise BenchError(f"{c.name}: /proc/{pid}/smaps_rollup: {e}") from None
        rss, pss = rss + m["rss"], pss + m["pss"]
    return {"processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024}


def load(c: Container, body: Path, duration: int, connections: int) -> dict[str, Any]:
    """wrk (on the load-generator core) when installed, else python_load; with the CPU the
    container spent per request and the CPU other processes took meanwhile (the noise)."""
    pids = [(pid, 0) for pid in container_pids(c)]
    before = cpu_snapshot(pids)
    if shutil.which("wrk") and shutil.which("taskset"):
        res = run_wrk(c.port, body, duration, connections) | {"loadgen": "wrk"}
    else:
        res = python_load(c.port, body.read_bytes(), duration, connections)
    cpu = cpu_usage(before, after := cpu_snapshot(pids))
    seconds = after["t"] - before["t"]
    res["server_cpu_ms"] = cpu["server_pct"] * seconds * 10 / max(1, res["requests"])
    res["other_cpu_pct"] = cpu["other_pct"]
    return res


def python_load(port: int, body: bytes, duration: int, connections: int) -> dict[str, Any]:
    """``connections`` threads, each a keep-alive http.client connection, for ``duration`` s."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    bad: list[str] = []
    errors = [0]
    lock = threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + duration

    def client(mine: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "text/csv", "Accept": "application/json"}
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - t)
            if resp.status != 200:
                with lock:
                    bad.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, args=(m,), daemon=True) for m in latencies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 15)
    seconds = time.monotonic() - t0
    lat = sorted(x for m in latencies for x in m)
    if not lat:
        raise BenchError(f"no answer at all in {duration} s at {connections} connections")
    return {
        "loadgen": "python",
        "requests": len(lat),
        "rps": len(lat) / seconds,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "non2xx": len(bad),
        "socket_errors": errors[0],
        "first_bad": bad[0] if bad else "",
    }
