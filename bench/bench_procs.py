"""/proc and system helpers for the benchmark: ports, process tables, memory, versions."""

from __future__ import annotations

import importlib.metadata
import os
import random
import socket
import subprocess
from pathlib import Path

from bench_config import MMS_JAVA_CLASS


def free_port() -> int:
    """A port below 32767 (multi-model-server rejects higher ones) that is free now."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        ok = True
        for host in ("0.0.0.0", "127.0.0.1"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port found below 32767")


def read_proc_stat(pid: int):
    """(state, ppid, pgrp, session) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def session_pids(sid: int) -> list[tuple[int, int]]:
    """Live (non-zombie) processes of session ``sid`` as (pid, ppid)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = read_proc_stat(int(d))
        if st and st[3] == sid and st[0] not in ("Z", "X"):
            out.append((int(d), st[1]))
    return out


def proc_table() -> dict[int, tuple[str, int, int, int]]:
    """Every live (non-zombie) process: pid -> (state, ppid, pgrp, session)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_proc_stat(int(d))
            if st and st[0] not in ("Z", "X"):
                out[int(d)] = st
    return out


def tree_pids(root: int, sessions: set[int]) -> list[tuple[int, int]]:
    """(pid, ppid) of every live process that descends from ``root`` or belongs to one of
    ``sessions``; the sessions of the processes found are added to ``sessions``.  A server
    whose workers start sessions of their own (BentoML's circus arbiter does) is still
    covered, and so is an orphan in a session already seen."""
    table = proc_table()
    children: dict[int, list[int]] = {}
    for pid, st in table.items():
        children.setdefault(st[1], []).append(pid)
    found = {pid for pid, st in table.items() if st[3] in sessions}
    todo = [root] if root in table else []
    todo += list(found)
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(c for c in children.get(pid, ()) if c not in found)
    sessions.update(table[p][3] for p in found)
    return sorted((p, table[p][1]) for p in found)


def find_mms_java() -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and MMS_JAVA_CLASS in cmdline(int(d)):
            st = read_proc_stat(int(d))
            if st and st[0] not in ("Z", "X"):
                pids.append(int(d))
    return pids


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss and Pss in kB from /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1].lower()] = int(parts[1])
    return out


def cpus_allowed(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0] if text else "?"
