"""A training program for tests: writes what it was given, then does what it is told."""

import json
import os
import signal
import sys
import time
from pathlib import Path

out = Path(os.environ["SM_OUTPUT_DATA_DIR"]) / "report.json"
out.write_text(
    json.dumps(
        {
            "argv": sys.argv[1:],
            "env": {
                k: v
                for k, v in os.environ.items()
                if k.startswith(("SM_", "TF_", "MASTER_", "WORLD_", "RANK"))
            },
        }
    )
)
action = os.environ.get("TEST_ACTION", "ok")
if action == "raise":
    raise ValueError("learning rate is negative")
if action == "exit":
    print("giving up: no GPU found", file=sys.stderr)
    sys.exit(3)
if action == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
if action == "memory":
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, 512 * 1024 * 1024))
    hog = bytearray(1024 * 1024 * 1024)
if action == "own-failure":
    Path(os.environ["SM_OUTPUT_DIR"], "failure").write_text("Dataset has 0 rows after filtering")
    sys.exit(1)
if action == "sigterm":

    def stop(signum, frame):
        Path(os.environ["SM_MODEL_DIR"], "saved-on-sigterm").write_text("yes")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    Path(os.environ["SM_OUTPUT_DATA_DIR"], "ready").write_text("yes")
    time.sleep(60)
    sys.exit(5)
if action == "pipe":
    fifo = Path(os.environ["SM_CHANNEL_TRAINING"] + "_0")
    with fifo.open("rb") as stream:
        data = stream.read()
    Path(os.environ["SM_MODEL_DIR"], "bytes-read").write_text(str(len(data)))
