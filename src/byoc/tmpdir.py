"""A writable temporary directory for ``serve``, checked once at start-up.

The server makes its lock and manifest directories with ``tempfile``, and gunicorn its
worker heartbeat files. With a read-only root file system and no tmpfs on ``/tmp``,
``tempfile`` finds nothing and ``serve`` dies with a traceback; here the first writable
candidate (``/dev/shm`` is a tmpfs in every Docker container) becomes ``TMPDIR`` for this
process and everything it starts, or ``serve`` stops with one line saying what to mount.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, MutableMapping

__all__ = ["default_candidates", "ensure_tmpdir", "writable"]

log = logging.getLogger("byoc.server")


def default_candidates(env: MutableMapping[str, str] | None = None) -> list[str]:
    """``$TMPDIR``, ``/tmp``, ``/var/tmp`` (where ``tempfile`` looks), then ``/dev/shm``."""
    env = os.environ if env is None else env
    found = [env.get("TMPDIR", ""), "/tmp", "/var/tmp", "/dev/shm"]
    return [path for path in dict.fromkeys(found) if path]


def writable(directory: str) -> bool:
    """Whether a file can be made (and removed) in ``directory``."""
    try:
        fd, name = tempfile.mkstemp(prefix=".byoc-probe-", dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def ensure_tmpdir(
    candidates: Iterable[str] | None = None, env: MutableMapping[str, str] | None = None
) -> str:
    """Make the first writable candidate the temporary directory and return it.

    Sets ``tempfile.tempdir`` and ``TMPDIR`` in ``env`` (``os.environ``) when it is not
    the first candidate; raises ``SystemExit`` with a one-line message when none is
    writable.
    """
    env = os.environ if env is None else env
    tried = list(default_candidates(env) if candidates is None else candidates)
    for index, directory in enumerate(tried):
        if writable(directory):
            if index > 0:
                log.warning("%s is not writable: temporary files go to %s", tried[0], directory)
            tempfile.tempdir = directory
            env["TMPDIR"] = directory
            return directory
    raise SystemExit(
        f"byoc: no writable temporary directory (tried {', '.join(tried)}); "
        "mount one, e.g. docker run --tmpfs /tmp"
    )
