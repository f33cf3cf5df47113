"""serve with a read-only root file system: /dev/shm, else one line saying what to mount."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from byoc.tmpdir import default_candidates, ensure_tmpdir, writable

from .conftest import IN_CI, write_handler
from .server import REPO, free_port


@pytest.fixture
def restore_tempdir() -> Iterator[None]:
    saved = tempfile.tempdir
    yield
    tempfile.tempdir = saved


def test_unwritable_candidates_are_skipped(tmp_path: Path, restore_tempdir: None) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    env: dict[str, str] = {}
    # /proc takes no new files, even from root; a file is no directory; the last one works
    candidates = [str(tmp_path / "missing"), "/proc", str(a_file), str(tmp_path)]
    assert ensure_tmpdir(candidates, env) == str(tmp_path)
    assert env["TMPDIR"] == tempfile.tempdir == str(tmp_path)
    assert tempfile.gettempdir() == str(tmp_path)
    assert list(tmp_path.iterdir()) == [a_file]  # the probe file is gone again


def test_nothing_writable_is_one_line_naming_the_mount(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    with pytest.raises(SystemExit) as exited:
        ensure_tmpdir([str(tmp_path / "missing"), "/proc"], env)
    message = str(exited.value.code)
    assert "\n" not in message and "--tmpfs /tmp" in message and "/proc" in message
    assert env == {}


def test_default_candidates_end_with_dev_shm() -> None:
    assert default_candidates({"TMPDIR": "/scratch"}) == [
        "/scratch",
        "/tmp",
        "/var/tmp",
        "/dev/shm",
    ]
    assert default_candidates({"TMPDIR": "/tmp"})[0] == "/tmp"
    assert writable(tempfile.gettempdir()) and not writable("/proc")


def _serve_read_only(ml_root: Path, also_shm: bool, port: int) -> subprocess.Popen[bytes]:
    """./serve in a mount namespace of its own where /tmp and /var/tmp (and /dev/shm) are
    read-only, as with `docker run --read-only` and no tmpfs."""
    mounts = [
        "mount --bind /tmp /tmp",
        "mount -o remount,bind,ro /tmp",
        "mount -t tmpfs -o ro tmpfs /var/tmp",
    ]
    if also_shm:
        mounts.append("mount -t tmpfs -o ro tmpfs /dev/shm")
    script = " && ".join([*mounts, f"exec {REPO / 'serve'}"])
    env = {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(ml_root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "BYOC_HOST": "127.0.0.1",
        "PYTHON": sys.executable,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("TMPDIR", None)
    return subprocess.Popen(
        ["unshare", "-m", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd="/proc",  # tempfile's last resort is the working directory: / in a container
        start_new_session=True,
    )


@pytest.fixture
def mount_namespaces() -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], check=False).returncode:
        if IN_CI:
            pytest.fail("CI runs as root: unshare -m must work here")
        pytest.skip("needs root (a mount namespace) to make /tmp read-only")


def test_serve_falls_back_to_dev_shm(ml_root: Path, mount_namespaces: None) -> None:
    write_handler(ml_root, "def model_fn(model_dir):\n    return lambda data: data\n")
    port = free_port()
    process = _serve_read_only(ml_root, also_shm=False, port=port)
    healthy = False
    try:
        deadline = time.monotonic() + 30
        while not healthy and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.ConnectionError):
                healthy = requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok
            time.sleep(0.05)
        answer = None
        if healthy:
            answer = requests.post(
                f"http://127.0.0.1:{port}/invocations",
                data=b"1,2",
                headers={"Content-Type": "text/csv"},
            )
    finally:
        process.terminate()
        output = process.communicate(timeout=35)[0].decode()
    assert healthy, output
    assert answer is not None and answer.json() == [[1.0, 2.0]]
    assert "temporary files go to /dev/shm" in output
    assert "Traceback" not in output


def test_serve_with_nothing_writable_says_what_to_mount(
    ml_root: Path, mount_namespaces: None
) -> None:
    process = _serve_read_only(ml_root, also_shm=True, port=free_port())
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 1
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("byoc: no writable temporary directory") and "--tmpfs /tmp" in last
