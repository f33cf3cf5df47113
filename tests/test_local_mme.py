"""``byoc local serve --models`` / ``byoc local invoke``: SageMaker's MME front end, locally."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from byoc.local import docker, http_request, pack
from byoc.local_mme import ModelsApi, ModelStore, StoreError, attach, invoke, model_name
from byoc.local_mme.store import normalise_target

from .server import REPO, ServerProcess, free_port

TARGETS = ("m1.tar.gz", "a/b/m2.tar.gz", "c/m3.tar.gz")
CAR = b"4,140,86,2790,15.6,82,1\n"
SCALED = """
import json, os
import numpy as np

def model_fn(model_dir):
    return json.load(open(os.path.join(model_dir, "factor.json")))["factor"]

def predict_fn(data, factor):
    return np.asarray(data).sum(axis=1) * factor
"""


def scaled_archive(archives: Path, target: str, factor: float, scratch: Path) -> None:
    model = scratch / target / "model"
    (model / "code").mkdir(parents=True)
    (model / "factor.json").write_text(json.dumps({"factor": factor}))
    (model / "code" / "inference.py").write_text(textwrap.dedent(SCALED))
    pack(model, archives / target)


def test_targets_are_relative_archives_named_by_a_hash() -> None:
    assert normalise_target("./a//b/m1.tar.gz") == "a/b/m1.tar.gz"
    for bad in ("../m.tar.gz", "/m.tar.gz", "a/../../m.tar.gz", "m.zip", ""):
        with pytest.raises(StoreError):
            normalise_target(bad)
    name = model_name("a/b/m1.tar.gz")
    assert len(name) == 32 and int(name, 16) >= 0 and name != model_name("a/b/m2.tar.gz")


def test_an_archive_escaping_its_folder_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    archives = tmp_path / "archives"
    archives.mkdir()
    with tarfile.open(archives / "evil.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../../escape.txt")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    store = ModelStore.create(tmp_path / "models", archives)
    with store.locked() as state, pytest.raises(StoreError, match="outside the destination"):
        store.unpack(state, "evil.tar.gz")
    with store.locked() as state, pytest.raises(StoreError, match="no model archive"):
        store.unpack(state, "missing.tar.gz")
    assert sorted(p.name for p in store.root.iterdir()) == [".byoc-mme.json"]
    assert not (tmp_path / "escape.txt").exists()


def test_the_least_recently_used_is_the_oldest_and_unknown_models_go_first(
    tmp_path: Path,
) -> None:
    store = ModelStore.create(tmp_path / "models", tmp_path)
    with store.locked() as state:
        state.touch("old", "old.tar.gz")
        time.sleep(0.01)
        state.touch("new", "new.tar.gz")
    with store.locked() as state:  # written back and read again
        assert state.least_recently_used(["new", "old"], keep="x") == "old"
        assert state.least_recently_used(["new", "old", "stranger"], keep="x") == "stranger"
        assert state.least_recently_used(["new"], keep="new") is None


@pytest.mark.process
def test_the_front_end_against_the_real_server(tmp_path: Path) -> None:
    """gunicorn with SAGEMAKER_MULTI_MODEL=true and room for 2: the third load is a 507."""
    archives = tmp_path / "archives"
    for target, factor in zip(TARGETS, (1.0, 10.0, 100.0), strict=True):
        scaled_archive(archives, target, factor, tmp_path / "scratch")
    store = ModelStore.create(tmp_path / "models", archives, mount=str(tmp_path / "models"))
    env = {"SAGEMAKER_MULTI_MODEL": "true", "BYOC_MME_MAX_MODELS": "2"}
    said: list[str] = []
    with ServerProcess(tmp_path, env=env) as server:
        server.wait_healthy()
        api = ModelsApi(server.url)
        answers = [
            json.loads(invoke(store, api, t, b"1,2\n", "text/csv", say=said.append).body)
            for t in (*TARGETS, "a/b/m2.tar.gz")
        ]
        assert answers == [[3.0], [30.0], [300.0], [30.0]]  # each model its own factor
        assert sorted(api.names()) == sorted(model_name(t) for t in TARGETS[1:])
        log = server.log
    unloaded = f"unloaded {model_name('m1.tar.gz')} (m1.tar.gz), the least recently used"
    assert any(unloaded in line for line in said)
    assert "target=c/m3.tar.gz 200" in log


def byoc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "byoc", *args],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO,
    )  # fmt: skip


@pytest.mark.docker
def test_local_serve_models_and_local_invoke_with_the_image(
    image: str, trained: Path, tmp_path: Path
) -> None:
    """Three archives of the trained Keras model, room for two: the third unloads the LRU."""
    archives = tmp_path / "archives"
    for target in TARGETS:
        pack(trained / "model", archives / target)
    name, port = f"byoc-test-mme-{free_port()}", free_port()
    started = byoc(
        "local", "serve", image, "--models", str(archives), "--port", str(port),
        "--env", "BYOC_MME_MAX_MODELS=2", "--detach", "--name", name,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"http://127.0.0.1:{port}" in started.stdout
        car = tmp_path / "car.csv"
        car.write_bytes(CAR)
        for index, target in enumerate(TARGETS):
            where = ("--name", name) if index != 1 else ("--url", f"http://localhost:{port}")
            answer = byoc("local", "invoke", *where, "--target-model", target, str(car))
            assert answer.returncode == 0, answer.stderr
            assert answer.stderr.strip().endswith("HTTP 200")
            (mpg,) = json.loads(answer.stdout)
            assert 10 < mpg < 50
        assert "the least recently used" in answer.stderr  # the third load met a 507
        assert f"unloaded {model_name('m1.tar.gz')} (m1.tar.gz)" in answer.stderr
        status, body = http_request(f"http://127.0.0.1:{port}/models", 10)
        listed = [m["modelName"] for m in json.loads(body)["models"]]
        assert status == 200 and sorted(listed) == sorted(model_name(t) for t in TARGETS[1:])
        bad = byoc("local", "invoke", "--name", name, "--target-model", "nope.tar.gz", str(car))
        assert bad.returncode == 2 and "no model archive nope.tar.gz" in bad.stderr
        logs = docker("logs", name).stderr + docker("logs", name).stdout
        for target in TARGETS:
            assert f"target={target} 200" in logs
    finally:
        if started.returncode == 0:
            shutil.rmtree(attach(name)[1].root.parent)  # --detach leaves it, as it should
        docker("rm", "-f", name, check=False)


def test_model_and_models_are_exclusive(tmp_path: Path) -> None:
    both = byoc("local", "serve", "img", "--models", str(tmp_path), "--model", str(tmp_path))
    assert both.returncode == 2 and "--model and --models are exclusive" in both.stderr
