"""The image as a locked-down platform runs it: read-only root, no capabilities, not root,
no outbound network — all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc.local import start_endpoint

ROW = b"4,140,86,2790,15.6,82,1\n"


@pytest.mark.docker
@pytest.mark.parametrize(
    "docker_args",
    [
        ("--read-only", "--cap-drop", "ALL", "--user", "1000:1000", "--security-opt",
         "no-new-privileges"),
        ("--read-only", "--cap-drop", "ALL"),  # root without capabilities: cannot switch user
    ],
    ids=["non-root", "root-without-capabilities"],
)  # fmt: skip
def test_serves_read_only_without_capabilities(
    image: str, trained: Path, docker_args: tuple[str, ...]
) -> None:
    endpoint = start_endpoint(image, trained / "model", isolated=True, docker_args=docker_args)
    try:
        endpoint.wait_healthy(120)
        status, body = endpoint.invoke(ROW, "text/csv")
        assert status == 200, (body, endpoint.logs())
        (mpg,) = json.loads(body)
        assert 10 < mpg < 50
        logs = endpoint.logs()
        assert "Traceback" not in logs, logs
        assert "/dev/shm" in logs or "temporary" in logs.lower(), logs  # no writable /tmp
    finally:
        endpoint.stop()
