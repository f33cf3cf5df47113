"""Real processes: the ``serve`` executable, gunicorn on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from .conftest import write_handler
from .server import REPO, ServerProcess, free_port

pytestmark = pytest.mark.process

PID_MODEL = """
import os, time

class Model:
    def predict(self, x):
        if x[0][0] < 0:
            time.sleep(-x[0][0])
        return [os.getpid()]

def model_fn(model_dir):
    return Model()
"""


def predict(url: str, body: str, timeout: float = 10.0, **headers: str) -> requests.Response:
    return requests.post(
        url + "/invocations",
        data=body,
        headers={"Content-Type": "text/csv", "Accept": "application/json", **headers},
        timeout=timeout,
    )


def test_serve_answers_ping_and_predictions(ml_root: Path) -> None:
    write_handler(ml_root, PID_MODEL)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        response = predict(server.url, "1,2\n")
        assert response.status_code == 200
        [worker_pid] = response.json()
        assert isinstance(worker_pid, int) and worker_pid != server.process.pid  # after fork
        assert "POST /invocations 200" in server.log


def test_ping_answers_within_2s_while_the_worker_predicts(ml_root: Path) -> None:
    write_handler(ml_root, PID_MODEL)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        slow = threading.Thread(target=predict, args=(server.url, "-3\n"), kwargs={"timeout": 10})
        slow.start()
        time.sleep(0.3)
        started = time.monotonic()
        ping = requests.get(server.url + "/ping", timeout=2)
        assert ping.status_code == 200
        assert time.monotonic() - started < 2.0
        slow.join(10)


def test_sigterm_lets_in_flight_requests_finish(ml_root: Path) -> None:
    write_handler(ml_root, PID_MODEL)
    server = ServerProcess(ml_root)
    try:
        server.wait_healthy()
        results: list[requests.Response] = []
        slow = threading.Thread(
            target=lambda: results.append(predict(server.url, "-2\n", timeout=15))
        )
        slow.start()
        time.sleep(0.5)
        started = time.monotonic()
        server.terminate()
        slow.join(15)
        assert results and results[0].status_code == 200
        assert server.process.wait(30) == 0
        assert time.monotonic() - started < 30
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/ping", timeout=2)
    finally:
        server.stop()


def test_ping_is_503_until_the_slow_model_loads(ml_root: Path) -> None:
    write_handler(
        ml_root,
        """
        import time

        def model_fn(model_dir):
            time.sleep(2)
            return lambda x: x
        """,
    )
    with ServerProcess(ml_root) as server:
        deadline = time.monotonic() + 10
        first = None
        while time.monotonic() < deadline and first is None:
            try:
                first = requests.get(server.url + "/ping", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.05)
        assert first is not None and first.status_code == 503
        assert first.json()["error"] == "model_not_ready"
        server.wait_healthy()
        assert predict(server.url, "5\n").json() == [[5.0]]


def test_bad_requests_never_kill_the_worker(ml_root: Path) -> None:
    write_handler(
        ml_root,
        PID_MODEL
        + """
def input_fn(body, content_type):
    if body.startswith("exit"):
        raise SystemExit(3)
    import numpy as np
    return np.array([[float(v) for v in body.split(",")]])
""",
    )
    with ServerProcess(ml_root, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}) as server:
        server.wait_healthy()
        pid = predict(server.url, "1\n").json()[0]
        assert predict(server.url, "exit\n").status_code == 500
        assert predict(server.url, "abc\n").status_code == 400
        assert predict(server.url, "1," * 600_000).status_code == 413
        chunked = requests.post(  # no Content-Length: the limit applies while reading
            server.url + "/invocations",
            data=iter([b"1," * 300_000] * 3),
            headers={"Content-Type": "text/csv"},
            timeout=10,
        )
        assert chunked.status_code == 413 and chunked.json()["error"] == "payload_too_large"
        assert predict(server.url, "1\n").json()[0] == pid


def test_oversized_content_length_is_refused_before_the_body_is_sent(ml_root: Path) -> None:
    write_handler(ml_root, PID_MODEL)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                b"Content-Length: 104857600\r\n\r\n1,2,3"
            )
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413")
        assert b"payload_too_large" in body and b"6291456 bytes" in body


def test_preloaded_model_serves_from_several_workers(ml_root: Path) -> None:
    write_handler(ml_root, PID_MODEL)
    env = {"BYOC_PRELOAD_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    with ServerProcess(ml_root, env=env) as server:
        server.wait_healthy()
        pids = {predict(server.url, "1\n").json()[0] for _ in range(20)}
        assert pids and server.process.pid not in pids
        assert server.log.count("model loaded") == 1  # once, in the master


def test_invalid_settings_exit_2_with_a_message(ml_root: Path) -> None:
    result = subprocess.run(
        [str(REPO / "serve")],
        env={**os.environ, "SAGEMAKER_BIND_TO_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SAGEMAKER_BIND_TO_PORT='eighty': must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_serves_the_embedded_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "byoc", "demo", "--once", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "/ping -> 200" in result.stdout
    assert "(text/csv, 2 cars) -> 200 [" in result.stdout
    assert "(application/json) -> 200 [" in result.stdout


def test_main_command_without_docker_serves_the_embedded_example(tmp_path: Path) -> None:
    """README's first command on a machine without Docker: says so, serves anyway."""
    (tmp_path / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    venv = REPO / ".venv" / "bin" / "byoc"
    if not venv.exists():
        pytest.skip("needs the repository's .venv (made by .ci/run or local_test/example.sh)")
    result = subprocess.run(
        ["/bin/bash", str(REPO / "local_test" / "example.sh")],
        env={
            "PATH": str(tmp_path),
            "BYOC_DEMO_ONCE": "1",
            "PORT": str(free_port()),
            "HOME": "/tmp",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Docker is not available here: the docker command is not installed." in result.stdout
    assert "/ping -> 200" in result.stdout
    assert "(application/json) -> 200 [" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


BATCH_SIZE_MODEL = """
import time

import numpy as np

def model_fn(model_dir):
    return None

def predict_fn(data, model):
    time.sleep(0.2)  # the other requests queue meanwhile
    return np.full(len(data), len(data))  # each row answers: how many rows this call had
"""


@pytest.mark.parametrize(("env", "batched"), [({"BYOC_MAX_BATCH_SIZE": "8"}, True), ({}, False)])
def test_concurrent_requests_share_predict_calls_under_gunicorn(
    ml_root: Path, env: dict[str, str], batched: bool
) -> None:
    write_handler(ml_root, BATCH_SIZE_MODEL)
    with ServerProcess(ml_root, env=env) as server:
        server.wait_healthy()
        answers: list[requests.Response | None] = [None] * 8
        start = threading.Barrier(8)

        def call(i: int) -> None:
            start.wait(10)
            answers[i] = predict(server.url, f"{i},1\n")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        sizes = []
        for answer in answers:
            assert answer is not None and answer.status_code == 200, server.log
            [size] = answer.json()  # one row in, one row out, batched or not
            sizes.append(size)
        assert (max(sizes) > 1) is batched, sizes
