"""Training faults: the program SIGKILLed, out of memory, stopped with SIGTERM, or
ignoring it; byoc (its parent) still leaves a failure reason and exits in time."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc.paths import MLPaths
from byoc.training import run_training
from byoc.training.oom import OomCounter, memory_cgroup_dir

from .server import REPO
from .test_training import job

FAULTS = Path(__file__).parent / "programs" / "faults.py"


def environment(root: Path, action: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(root),
        "BYOC_TRAINING_PROGRAM": str(FAULTS),
        "TEST_ACTION": action,
        **extra,
    }


def first_line(paths: MLPaths) -> str:
    return paths.failure_file.read_text().splitlines()[0]


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for init."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert path.exists(), f"{path} never appeared (exit {process.poll()})"


def test_sigkilled_program_leaves_signal_and_stderr_tail(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run_training(paths, environment(tmp_path, "sigkill")) == 137
    line = first_line(paths)
    assert re.match(
        r"AlgorithmError: training program .*faults\.py was killed by SIGKILL "
        r"\(signal 9, exit code 137\), .*out-of-memory killer",
        line,
    ), line
    assert line.endswith(": epoch 1: loss=0.5")  # the last thing it said
    if memory_cgroup_dir() is not None:  # the count is readable: it says it was not OOM
        assert "by something other than the out-of-memory killer" in line
    assert "stderr (last lines):\nepoch 1: loss=0.5" in paths.failure_file.read_text()


def test_memory_error_under_an_address_space_limit(tmp_path: Path) -> None:
    paths = job(tmp_path)
    assert run_training(paths, environment(tmp_path, "rlimit")) == 1
    assert re.match(r"AlgorithmError: .* exited with code 1: MemoryError", first_line(paths))
    assert re.search(r"allocated \d+ MiB\nTraceback", paths.failure_file.read_text())


@contextlib.contextmanager
def memory_cgroup(limit_mib: int) -> Iterator[Path]:
    """A child of this process's v1 memory cgroup with a limit; skip where none can be made."""
    found = memory_cgroup_dir()
    if found is None or found[1] != 1:
        pytest.skip("no cgroup v1 memory hierarchy visible")
    directory = found[0] / f"byoc-test-{os.getpid()}"
    try:
        directory.mkdir()
        (directory / "memory.limit_in_bytes").write_text(str(limit_mib << 20))
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    try:
        yield directory
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                directory.rmdir()
                break
            except OSError:  # busy until its last process is reaped
                time.sleep(0.1)


def test_oom_killed_program_is_named_from_the_cgroup(tmp_path: Path) -> None:
    """The real OOM killer: byoc and its program in a 256 MiB cgroup, as in a container."""
    paths = job(tmp_path)
    with memory_cgroup(256) as cgroup:
        process = subprocess.run(
            ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$0"', str(REPO / "train")],
            env=environment(tmp_path, "oom"),
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert process.returncode == 137, process.stderr[-2000:]
    line = first_line(paths)
    assert re.match(
        r"AlgorithmError: training program .*faults\.py was killed by SIGKILL "
        r"\(signal 9, exit code 137\), by the kernel's out-of-memory killer "
        r"\(the container's cgroup counted it; memory limit 256 MiB\): allocated \d+ MiB$",
        line,
    ), line


def test_sigterm_is_forwarded_and_the_checkpoint_kept(tmp_path: Path) -> None:
    paths = job(tmp_path)
    process = subprocess.Popen(
        [str(REPO / "train")], env=environment(tmp_path, "checkpoint"), stderr=subprocess.PIPE
    )
    wait_for(paths.output_data_dir / "ready", process)
    time.sleep(0.3)  # a few epochs
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert process.returncode == 0, stderr.decode()
    assert elapsed < 120
    checkpoints = list(paths.checkpoints_dir.glob("epoch-*.ckpt"))
    assert len(checkpoints) == 1 and int(checkpoints[0].stem.split("-")[1]) >= 1
    assert checkpoints[0].read_text().startswith("weights after epoch")
    assert b"SIGTERM: checkpoint of epoch" in stderr
    assert not paths.failure_file.exists()


def test_program_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    paths = job(tmp_path)
    process = subprocess.Popen(
        [str(REPO / "train")],
        env=environment(tmp_path, "ignore-sigterm", BYOC_TRAINING_GRACE_SECONDS="2"),
        stderr=subprocess.PIPE,
    )
    wait_for(paths.output_data_dir / "ready", process)
    grandchild = int((paths.output_data_dir / "grandchild").read_text())
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    elapsed = time.monotonic() - started
    assert process.returncode == 137, stderr.decode()
    assert 2 <= elapsed < 10
    line = first_line(paths)
    assert re.match(
        r"AlgorithmError: training program .*faults\.py did not exit within 2 s of SIGTERM "
        r"\(StopTrainingJob or MaxRuntime\) and was killed by SIGKILL \(signal 9, exit code "
        r"137\): ignoring SIGTERM$",
        line,
    ), line
    deadline = time.monotonic() + 5
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(grandchild), "the program's own child outlived the job"


def test_processes_the_program_leaves_behind_are_killed(tmp_path: Path) -> None:
    paths = job(tmp_path)
    started = time.monotonic()
    assert run_training(paths, environment(tmp_path, "leave-a-child")) == 0
    assert time.monotonic() - started < 10  # not waiting on the child's stderr
    grandchild = int((paths.output_data_dir / "grandchild").read_text())
    deadline = time.monotonic() + 5
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(grandchild)


@pytest.mark.parametrize("value", ["0", "120", "soon"])
def test_grace_period_must_leave_time_before_sagemakers_sigkill(tmp_path: Path, value: str) -> None:
    paths = job(tmp_path)
    env = environment(tmp_path, "sigkill", BYOC_TRAINING_GRACE_SECONDS=value)
    assert run_training(paths, env) == 2
    assert first_line(paths) == (
        f"ClientError: BYOC_TRAINING_GRACE_SECONDS={value!r}: "
        "must be a number of seconds from 1 to 115"
    )


def fake_proc(root: Path, cgroup: str, mountinfo: str) -> Path:
    proc = root / "proc"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    return proc


def test_oom_count_is_read_from_the_process_cgroup_v2(tmp_path: Path) -> None:
    mount = tmp_path / "cg2"
    (mount / "job").mkdir(parents=True)
    events = mount / "job" / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (mount / "job" / "memory.max").write_text(f"{512 << 20}\n")
    proc = fake_proc(
        tmp_path,
        "0::/job\n",
        f"30 25 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
    )
    counter = OomCounter(proc)
    before = counter.since()
    assert before is not None and not before.killed
    events.write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n")
    after = counter.since()
    assert after is not None and after.killed and after.limit_mib == 512


def test_oom_count_is_read_from_a_v1_memory_hierarchy_mounted_at_its_root(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "memory"
    mount.mkdir()
    (mount / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (mount / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    # a container without a cgroup namespace: its cgroup is the mount's root
    proc = fake_proc(
        tmp_path,
        "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
        f"40 25 0:30 /docker/abc {mount} rw - cgroup cgroup rw,memory\n",
    )
    assert memory_cgroup_dir(proc) == (mount, 1)
    counter = OomCounter(proc)
    (mount / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    evidence = counter.since()
    assert evidence is not None and evidence.killed and evidence.limit_mib is None
    assert OomCounter(fake_proc(tmp_path / "x", "", "")).since() is None
