"""How each stack under test is started: its command line and environment."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench_config import (
    BATCH_ENV,
    BENCH_DIR,
    BENTOML_SERVICES,
    BENTOML_SETUP,
    BENTOML_VENV,
    GTHREAD_ENV,
    REPO_DIR,
    BenchError,
    log,
)
from bench_procs import free_port, tool_version
from bench_servers import BentoMLServer, MMSPeer, Server


def base_env(root: Path, port: int, workers: int) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAGEMAKER_", "BYOC_", "BENTOML_"))
        and k not in ("PYTHONPATH", "GUNICORN_CMD_ARGS")
    }
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(root),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            "PYTHONUNBUFFERED": "1",
            # Console scripts (byoc, multi-model-server) of this interpreter come first, so a
            # pyenv/virtualenv shim does not sit in front of them (as it would not in a container).
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    return env


def byoc_command() -> tuple[list[str], str | None, str]:
    """argv, extra PYTHONPATH, note."""
    exe = shutil.which("byoc", path=str(Path(sys.executable).parent))
    if exe and importlib.util.find_spec("byoc") is not None:
        return [exe, "serve"], None, "console script `byoc serve`"
    if importlib.util.find_spec("byoc") is not None:
        return [sys.executable, "-m", "byoc", "serve"], None, "`python -m byoc serve`"
    src = REPO_DIR / "src"
    if (src / "byoc").is_dir():
        return (
            [sys.executable, "-m", "byoc", "serve"],
            str(src),
            f"`python -m byoc serve` with PYTHONPATH={src} (byoc is not pip-installed)",
        )
    raise BenchError("byoc is neither installed nor present in src/")


def bentoml_version() -> str:
    py = BENTOML_VENV / "bin" / "python"
    if not py.exists():
        return "not installed"
    return tool_version(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('bentoml'))"]
    )


_bentoml_checked: dict[str, Path | BenchError] = {}


def ensure_bentoml() -> Path:
    """The ``bentoml`` executable of BentoML's own venv, created by setup_bentoml.sh on
    first use (about a minute, from the package registry); tried once per run."""
    if "exe" in _bentoml_checked:
        found = _bentoml_checked["exe"]
        if isinstance(found, BenchError):
            raise found
        return found
    exe = BENTOML_VENV / "bin" / "bentoml"
    if not exe.exists() or bentoml_version() in ("not installed", "unavailable", "?"):
        log(f"BentoML venv {BENTOML_VENV} missing: running {BENTOML_SETUP} (one-time, ~1 min)")
        p = subprocess.run(
            ["bash", str(BENTOML_SETUP), str(BENTOML_VENV)],
            stdout=sys.stderr,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
        if p.returncode != 0 or not exe.exists():
            err = BenchError(
                f"{BENTOML_SETUP} failed (exit {p.returncode}); run it by hand and see its output"
            )
            _bentoml_checked["exe"] = err
            raise err
    _bentoml_checked["exe"] = exe
    return exe


def make_factories(root: Path, expected: dict) -> dict:
    def byoc(workers: int, name: str = "byoc", extra: dict | None = None) -> Server:
        argv, pypath, note = byoc_command()
        port = free_port()
        env = base_env(root, port, workers)
        if pypath:
            env["PYTHONPATH"] = pypath
        if extra:
            env.update(extra)
            note += " with " + " ".join(f"{k}={v}" for k, v in extra.items())
        return Server(name, argv, env, root / f"run-{name}", port, workers, expected, note)

    def byoc_batch(workers: int) -> Server:
        return byoc(workers, "byoc-batch", BATCH_ENV)

    def byoc_gthread(workers: int) -> Server:
        return byoc(workers, "byoc-gthread", GTHREAD_ENV)

    def peer(workers: int) -> Server:
        port = free_port()
        env = base_env(root, port, workers)
        pkg = root / "peer-pkg"
        pkg.mkdir(exist_ok=True)
        shutil.copy(BENCH_DIR / "peer_handler_service.py", pkg / "peer_handler_service.py")
        env["PYTHONPATH"] = str(pkg)
        argv = [
            sys.executable,
            "-c",
            "from sagemaker_inference import model_server; "
            "model_server.start_model_server(handler_service='peer_handler_service')",
        ]
        return MMSPeer(
            "peer",
            argv,
            env,
            root / "run-peer",
            port,
            workers,
            expected,
            "sagemaker_inference.model_server.start_model_server on multi-model-server",
        )

    def ceiling(workers: int) -> Server:
        port = free_port()
        env = base_env(root, port, workers)
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--threads",
            "8",  # byoc's default (byoc.settings.DEFAULT_THREADS)
            "--workers",
            str(workers),
            "--keep-alive",
            "5",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--pythonpath",
            str(BENCH_DIR),
            "ceiling_app:app",
        ]
        return Server(
            "ceiling",
            argv,
            env,
            root / "run-ceiling",
            port,
            workers,
            None,
            "bare Flask, constant JSON body, gunicorn gthread x8 threads",
        )

    def bentoml(workers: int, name: str = "bentoml") -> Server:
        bentoml_exe = ensure_bentoml()
        port = free_port()
        env = base_env(root, port, workers)
        env.update(
            {
                "BENCH_MODEL_DIR": str(root / "model"),
                "BENCH_BENTOML_WORKERS": str(workers),
                "BENTOML_HOME": str(root / "bentoml-home"),
                "BENTOML_DO_NOT_TRACK": "true",
                "VIRTUAL_ENV": str(BENTOML_VENV),
                "PATH": os.pathsep.join([str(bentoml_exe.parent), os.environ.get("PATH", "")]),
            }
        )
        argv = [
            str(bentoml_exe),
            "serve",
            BENTOML_SERVICES[name],
            "--working-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        note = f"bentoml serve {BENTOML_SERVICES[name]} (BentoML {bentoml_version()})"
        return BentoMLServer(name, argv, env, root / f"run-{name}", port, workers, expected, note)

    def bentoml_batch(workers: int) -> Server:
        return bentoml(workers, "bentoml-batch")

    return {
        "byoc": byoc,
        "byoc-batch": byoc_batch,
        "byoc-gthread": byoc_gthread,
        "peer": peer,
        "bentoml": bentoml,
        "bentoml-batch": bentoml_batch,
        "ceiling": ceiling,
    }
