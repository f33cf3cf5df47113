"""The servers under test: started in a session of their own pinned to SERVER_CORE,
measured through /proc, stopped with their whole process tree."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench_config import (
    MMS_CONFIG_FILE,
    MMS_JAVA_CLASS,
    MMS_PID_FILE,
    SERVER_CORE,
    BenchError,
    log,
)
from bench_procs import (
    cmdline,
    cpus_allowed,
    find_mms_java,
    read_proc_stat,
    smaps_rollup,
    tree_pids,
)


class Server:
    """One server under test, started in its own session pinned to SERVER_CORE."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict,
        cwd: Path,
        port: int,
        workers: int,
        expected: dict | None,
        note: str = "",
    ):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.port = port
        self.workers = workers
        self.expected = expected  # None: constant body (ceiling)
        self.note = note
        self.proc: subprocess.Popen | None = None
        self.log_path = cwd / f"{name}.log"
        self.t_launch = 0.0
        self.leftovers: list[str] = []
        self.sessions: set[int] = set()

    # --- lifecycle
    def start(self) -> None:
        self.sessions = set()
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logf:
            self.t_launch = time.monotonic()
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(SERVER_CORE), *self.argv],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def sid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[tuple[int, int]]:
        """(pid, ppid) of every live process of the server: its session, its descendants
        (also those that started sessions of their own) and anything in those sessions."""
        if self.proc is None:
            return []
        self.sessions.add(self.sid)
        return tree_pids(self.sid, self.sessions)

    def stop(self) -> None:
        if self.proc is None:
            return
        sid = self.sid
        self.pids()  # learn the worker sessions while the tree is intact
        self.before_stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.proc.poll()
            if not self.pids():
                break
            time.sleep(0.1)
        remaining = self.pids()
        if remaining:
            log(f"[{self.name}] still running after SIGTERM: {[p for p, _ in remaining]}; SIGKILL")
            for group in self.sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
            for pid, _ in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.pids():
                self.proc.poll()
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        left = tree_pids(sid, self.sessions)
        self.leftovers = [f"{pid} {' '.join(cmdline(pid))[:120]}" for pid, _ in left]
        if self.leftovers:
            log(f"[{self.name}] PROCESSES LEFT BEHIND: {self.leftovers}")
        self.after_stop()
        self.proc = None

    def before_stop(self) -> None:
        pass

    def after_stop(self) -> None:
        pass

    # --- measurements
    def processes(self) -> list[dict]:
        out = []
        for pid, ppid in self.pids():
            argv = cmdline(pid)
            try:
                mem = smaps_rollup(pid)
            except OSError:
                continue
            out.append(
                {
                    "pid": pid,
                    "ppid": ppid,
                    "role": self.role(pid, ppid, argv),
                    "rss_kib": mem.get("rss", 0),
                    "pss_kib": mem.get("pss", 0),
                    "cpus_allowed": cpus_allowed(pid),
                    "cmd": " ".join(argv)[:160],
                }
            )
        return out

    def role(self, pid: int, ppid: int, argv: list[str]) -> str:
        if pid == self.sid:
            return "master"
        if ppid == self.sid:
            return "worker"
        return "child"

    def counted(self, proc: dict) -> bool:
        return True

    def batch_counter(self) -> tuple[float, float] | None:
        """(requests batched, batches) so far, for servers that count them."""
        return None


class MMSPeer(Server):
    """sagemaker-inference toolkit's start_model_server on multi-model-server."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._saved_config: bytes | None = None
        self._had_config = False

    def preflight(self) -> None:
        for tool in ("java", "multi-model-server"):
            if not shutil.which(tool, path=self.env["PATH"]):
                raise BenchError(f"peer needs `{tool}` on PATH")
        running = find_mms_java()
        if running:
            raise BenchError(
                f"another multi-model-server is running (java pid {running}); MMS uses "
                "/tmp/.mms.sock.9000 so only one can run per machine. Stop it first "
                "(multi-model-server --stop)."
            )
        if MMS_PID_FILE.exists():
            log(f"[peer] removing stale {MMS_PID_FILE}")
            MMS_PID_FILE.unlink()
        # the toolkit overwrites this global file; put it back afterwards
        self._had_config = MMS_CONFIG_FILE.exists()
        if self._had_config:
            self._saved_config = MMS_CONFIG_FILE.read_bytes()

    def start(self) -> None:
        self.preflight()
        super().start()

    def before_stop(self) -> None:
        # The documented way first: `multi-model-server --stop` kills the java frontend and
        # its workers (only if the pid file points into our session).
        try:
            pid = int(MMS_PID_FILE.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        st = read_proc_stat(pid)
        if st and st[3] == self.sid:
            try:
                subprocess.run(
                    ["multi-model-server", "--stop"],
                    env=self.env,
                    cwd=self.cwd,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                log(f"[peer] multi-model-server --stop failed: {e}")

    def after_stop(self) -> None:
        if MMS_PID_FILE.exists():
            try:
                pid = int(MMS_PID_FILE.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if read_proc_stat(pid) is None:
                MMS_PID_FILE.unlink(missing_ok=True)
        if not find_mms_java():
            for sock in Path(tempfile.gettempdir()).glob(".mms.sock.*"):
                sock.unlink(missing_ok=True)
        try:
            if self._had_config and self._saved_config is not None:
                MMS_CONFIG_FILE.write_bytes(self._saved_config)
            elif not self._had_config:
                MMS_CONFIG_FILE.unlink(missing_ok=True)
        except OSError as e:
            log(f"[peer] could not restore {MMS_CONFIG_FILE}: {e}")

    def role(self, pid: int, ppid: int, argv: list[str]) -> str:
        joined = " ".join(argv)
        if pid == self.sid:
            return "launcher (start_model_server)"
        if MMS_JAVA_CLASS in joined:
            return "java frontend"
        if "model_service_worker.py" in joined:
            return "python worker"
        if "metric_collector" in joined:
            return "metric collector (transient)"
        return "child"

    def counted(self, proc: dict) -> bool:
        # MMS starts a short-lived metric collector every minute; it is not part of the
        # steady-state footprint, so it is listed but not summed.
        return "transient" not in proc["role"]


class BentoMLServer(Server):
    """``bentoml serve``: a circus arbiter that starts each worker in a session of its own
    (so the process tree, not the session, is what belongs to the server)."""

    def role(self, pid: int, ppid: int, argv: list[str]) -> str:
        joined = " ".join(argv)
        if pid == self.sid:
            return "arbiter (bentoml serve)"
        if "_bentoml_impl.worker.service" in joined:
            return "worker"
        return "child"

    def batch_counter(self) -> tuple[float, float] | None:
        """From BentoML's own Prometheus histogram of adaptive batch sizes (requests per
        batch), on /metrics: (sum, count), or None when it has none (batching off)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        total = {"sum": 0.0, "count": 0.0}
        for line in text.splitlines():
            m = re.match(r"^\w*adaptive_batch_size_(sum|count)(?:\{[^}]*\})? ([0-9.eE+-]+)$", line)
            if m:
                total[m.group(1)] += float(m.group(2))
        return (total["sum"], total["count"]) if total["count"] else None
