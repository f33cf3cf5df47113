"""A training program that fails the hard ways, for the supervisor's tests (TEST_ACTION)."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

action = os.environ["TEST_ACTION"]
out = Path(os.environ["SM_OUTPUT_DATA_DIR"])
print("epoch 1: loss=0.5", file=sys.stderr, flush=True)


def allocate_forever() -> None:
    chunks = []
    while True:
        chunks.append(b"x" * (16 << 20))  # written, so the pages are really used
        print(f"allocated {16 * len(chunks)} MiB", file=sys.stderr, flush=True)


def ready() -> None:
    (out / "ready").write_text(str(os.getpid()))


def leave_a_child() -> None:
    """A grandchild that ignores SIGTERM and would outlive us; its pid goes to a file."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(15, 1); time.sleep(300)"]
    )
    (out / "grandchild").write_text(str(child.pid))


if action == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
elif action == "oom":  # run inside a memory cgroup: the kernel's OOM killer ends it
    allocate_forever()
elif action == "rlimit":  # no cgroup: the address-space limit makes malloc fail
    resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
    allocate_forever()
elif action == "checkpoint":
    checkpoints = Path(os.environ["SM_CHECKPOINT_DIR"])
    epoch = 0

    def save_and_stop(signum: int, frame: object) -> None:
        (checkpoints / f"epoch-{epoch}.ckpt").write_text(f"weights after epoch {epoch}")
        print(f"SIGTERM: checkpoint of epoch {epoch} saved", file=sys.stderr, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, save_and_stop)
    ready()
    while True:
        epoch += 1
        time.sleep(0.1)
elif action == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    leave_a_child()
    ready()
    print("ignoring SIGTERM", file=sys.stderr, flush=True)
    time.sleep(300)
elif action == "leave-a-child":
    leave_a_child()
