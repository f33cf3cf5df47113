# A batch-transform test handler, switched by files in the model dir that the test writes:
# answers ``out:<line>`` per input line (text/csv); a line containing ``bad`` gets a 400
# naming its row; a body containing ``flaky`` gets a 500 while ``failures.txt`` counts above
# zero (each 500 counts it down); ``delay.txt`` holds seconds to sleep; ``answer_lines.txt``
# how many lines to answer instead. Every request is appended to ``requests.jsonl``: its
# headers as the handler sees them through ``context``, its body, and how many requests
# were in the handler when it arrived (this process's own; run it with one worker).
import base64
import json
import threading
import time
from pathlib import Path

from byoc.errors import BadRequest, ModelError

_lock = threading.Lock()
_in_flight = 0


def model_fn(model_dir):
    return Path(model_dir)


def _read(path, default):
    return path.read_text().strip() if path.exists() else default


def transform_fn(model_dir, data, content_type, accept, context):
    global _in_flight
    body = data.encode() if isinstance(data, str) else data
    with _lock:
        _in_flight += 1
        entry = {
            "headers": dict(context.get_all_request_header(0).items()),
            "body": base64.b64encode(body).decode(),
            "in_flight": _in_flight,
        }
        with (model_dir / "requests.jsonl").open("a") as log:
            log.write(json.dumps(entry) + "\n")
    try:
        time.sleep(float(_read(model_dir / "delay.txt", "0")))
    finally:
        with _lock:
            _in_flight -= 1
    with _lock:
        failures = model_dir / "failures.txt"
        left = int(_read(failures, "0"))
        flaky = b"flaky" in body and left > 0
        if flaky:
            failures.write_text(str(left - 1))
    if flaky:
        raise ModelError("try again")
    lines = body.decode(errors="replace").splitlines()
    bad = [n for n, line in enumerate(lines, 1) if "bad" in line]
    if bad:
        raise BadRequest(f"row {bad[0]} is bad")
    count = int(_read(model_dir / "answer_lines.txt", str(len(lines))))
    return "".join(f"out:{line}\n" for line in lines[:count]), "text/csv"
