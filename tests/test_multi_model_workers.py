"""Multi-model endpoints across workers: every worker's copy, the budget that counts copies
still to come, failed and slow copies, heartbeats and the cgroup's usage."""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

import pytest
import requests

from byoc.serving import Service, memory
from byoc.serving.manifest import Manifest
from byoc.serving.multimodel import MultiModelRegistry
from byoc.settings import Settings

from .server import ServerProcess
from .test_multi_model import SCALED, make_model


def endpoint(root: Path, **env: str) -> tuple[Service, MultiModelRegistry]:
    """An in-process endpoint (the service owns the state directory: keep it referenced)."""
    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(root), "SAGEMAKER_MULTI_MODEL": "true", **env}
    )
    service = Service(settings)
    assert service.models is not None
    return service, service.models


def test_the_budget_counts_copies_other_workers_have_still_to_load(tmp_path: Path) -> None:
    """A model loaded through one worker costs as much again in each worker that has not
    loaded its copy yet: the next load is a 507 before that memory is spent."""
    _service, models = endpoint(tmp_path)
    manifest = models.manifest
    models.copies.start()  # this worker, whose heartbeat lists nothing loaded
    failing = "def model_fn(model_dir):\n    raise MemoryError\n"
    manifest.add("big", str(make_model(tmp_path, "big", 1.0, code=failing)))
    # two more live processes stand in for workers: one loaded it at 300 MiB, one not yet
    manifest.beat(1, ["big"], {"big": 300 * 2**20})
    manifest.beat(os.getppid(), [], {})
    time.sleep(0.3)  # our follower saw "big" and tried its own copy (model_fn fails)
    used, coming = models._projected()
    assert coming == 2 * 300 * 2**20
    budget_mb = (used + 100 * 2**20) / 2**20  # room for what is used now, not for the copy
    models.settings = Settings.from_env(
        {
            "SAGEMAKER_BASE_DIR": str(tmp_path),
            "SAGEMAKER_MULTI_MODEL": "true",
            "BYOC_MME_MEMORY_BUDGET_MB": f"{budget_mb:.0f}",
        }
    )
    with pytest.raises(Exception) as refused:
        models.load("small", str(make_model(tmp_path, "small", 2.0)))
    assert getattr(refused.value, "status", None) == 507
    assert "600 MiB on its way to workers" in str(refused.value)
    manifest.beat(os.getppid(), ["big"], {"big": 290 * 2**20})  # that copy arrived
    assert models._projected()[1] == 300 * 2**20


def test_a_copy_that_fails_is_a_503_with_the_reason_and_is_not_retried_at_once(
    tmp_path: Path,
) -> None:
    """Another worker loaded the model; ours fails: 503 saying why, and the next request
    does not run model_fn again for RETRY_AFTER seconds."""
    calls = tmp_path / "calls"
    code = f"""
def model_fn(model_dir):
    with open({str(calls)!r}, "a") as f:
        f.write("x")
    raise RuntimeError("no GPU here")

def predict_fn(data, model):
    return data
"""
    _service, models = endpoint(tmp_path)
    models.manifest.add("m", str(make_model(tmp_path, "m", 1.0, code=code)))
    for _ in range(3):
        with pytest.raises(Exception) as failed:
            models.runtime("m")
        assert getattr(failed.value, "status", None) == 503
        assert "no GPU here" in str(failed.value)
    assert calls.read_text() == "x"


def test_a_request_waits_for_a_slow_copy_up_to_the_timeout_then_gets_a_503(
    tmp_path: Path,
) -> None:
    code = SCALED.replace(
        "def model_fn(model_dir):", "def model_fn(model_dir):\n    time.sleep(2.5)"
    )
    code = "import time\n" + code
    _service, models = endpoint(tmp_path, SAGEMAKER_MODEL_SERVER_TIMEOUT="1")
    models.manifest.add("slow", str(make_model(tmp_path, "slow", 3.0, code=code)))
    started = time.monotonic()
    with pytest.raises(Exception) as waiting:
        models.runtime("slow")
    assert getattr(waiting.value, "status", None) == 503
    assert "still loading" in str(waiting.value)
    assert 0.9 < time.monotonic() - started < 2.4
    time.sleep(2.0)  # the load went on meanwhile
    answer = models.runtime("slow").invoke(b"1,2\n", "text/csv", None, {}, "id")
    assert answer.status == 200 and answer.body == b"[9.0]"


def test_a_busy_worker_still_holds_its_models_and_an_exited_one_is_forgotten(
    tmp_path: Path,
) -> None:
    manifest = Manifest(tmp_path)
    manifest.beat(os.getpid(), ["m"], {"m": 1})
    beat = tmp_path / "workers" / f"{os.getpid()}.json"
    data = json.loads(beat.read_text())
    data["beat"] -= 30  # a worker whose GIL a C extension held for 30 s: alive, not gone
    beat.write_text(json.dumps(data))
    assert manifest.holders("m", except_pid=0) == [os.getpid()]
    manifest.forget_worker(os.getpid())  # what the master does when a worker exits
    assert manifest.holders("m", except_pid=0) == []


def test_the_cgroup_usage_leaves_out_reclaimable_file_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text(f"{600 * 2**20}\n")
    (tmp_path / "memory.stat").write_text(
        f"anon {300 * 2**20}\nfile {300 * 2**20}\nactive_file {50 * 2**20}\n"
        f"inactive_file {250 * 2**20}\n"
    )
    monkeypatch.setattr(memory, "_CGROUP", tmp_path)
    assert memory.usage_bytes() == 350 * 2**20
    assert memory.budget_bytes(None) == int(2**30 * 0.9)


def test_an_in_process_endpoint_removes_its_state_directory(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(tmp_path), "SAGEMAKER_MULTI_MODEL": "true"}
    )
    service = Service(settings)
    assert service.models is not None
    root = service.models.manifest.root
    assert root.is_dir()
    del service
    gc.collect()
    assert not root.exists()


@pytest.mark.process
def test_every_worker_loads_its_copy_without_waiting_for_a_request(tmp_path: Path) -> None:
    """Loaded through one worker, the model is in both workers' heartbeats soon after, with
    what it cost each, before any request asked the second worker for it."""
    state = tmp_path / "state"
    model = make_model(tmp_path, "m", 2.0)
    env = {
        "SAGEMAKER_MULTI_MODEL": "true",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
        "BYOC_MME_STATE_DIR": str(state),
    }
    with ServerProcess(tmp_path, env=env) as server:
        server.wait_healthy()
        loaded = requests.post(
            server.url + "/models", json={"model_name": "m", "url": str(model)}, timeout=30
        )
        assert loaded.status_code == 200, loaded.text
        deadline = time.monotonic() + 20
        views = Manifest(state).live_workers()
        while time.monotonic() < deadline:
            views = Manifest(state).live_workers()
            if len(views) == 2 and all("m" in view.costs for view in views):
                break
            time.sleep(0.05)
        assert len(views) == 2 and all("m" in view.costs for view in views), views
        assert requests.delete(server.url + "/models/m", timeout=30).status_code == 200
        assert Manifest(state).holders("m", except_pid=0) == []
