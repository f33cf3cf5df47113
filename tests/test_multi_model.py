"""Multi-model endpoints: the /models API, per-model code, memory budget, several workers."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from byoc.app import create_app
from byoc.serving import Service
from byoc.settings import Settings

from .server import ServerProcess

SCALED = """
import json, os
import numpy as np

def model_fn(model_dir):
    return json.load(open(os.path.join(model_dir, "factor.json")))["factor"]

def predict_fn(data, factor):
    return np.asarray(data).sum(axis=1) * factor
"""


def make_model(root: Path, name: str, factor: float, code: str | None = SCALED) -> Path:
    directory = root / "models" / name / "model"
    directory.mkdir(parents=True)
    (directory / "factor.json").write_text(json.dumps({"factor": factor}))
    if code is not None:
        (directory / "code").mkdir()
        (directory / "code" / "inference.py").write_text(textwrap.dedent(code))
    return directory


def mme_client(root: Path, **env: str) -> FlaskClient:
    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(root), "SAGEMAKER_MULTI_MODEL": "true", **env}
    )
    service = Service(settings)
    service.load()
    return create_app(settings, service).test_client()


def load(client: FlaskClient, name: str, url: Path | str):  # type: ignore[no-untyped-def]
    return client.post("/models", json={"model_name": name, "url": str(url)})


def invoke(client: FlaskClient, name: str, body: str = "1,2\n"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/models/{name}/invoke",
        data=body,
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Model": f"{name}.tar.gz"},
    )


def test_healthy_with_no_models_and_an_empty_list(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    assert client.get("/ping").status_code == 200
    assert client.get("/models").get_json() == {"models": []}


def test_the_target_model_header_is_logged_not_routed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    client = mme_client(tmp_path)
    assert load(client, "m1", make_model(tmp_path, "m1", 1.0)).status_code == 200
    answer = client.post(
        "/models/m1/invoke",
        data="1,2\n",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Model": "other.tar.gz"},
    )
    assert answer.get_json() == [3.0]  # routed by the name in the path
    assert "POST /models/m1/invoke target=other.tar.gz 200" in capfd.readouterr().err


def test_load_invoke_describe_delete(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    one = make_model(tmp_path, "m1", 1.0)
    two = make_model(tmp_path, "m2", 10.0)
    assert load(client, "m1", one).status_code == 200
    assert load(client, "m2", two).status_code == 200
    assert invoke(client, "m1").get_json() == [3.0]
    assert invoke(client, "m2").get_json() == [30.0]  # each model's own code and data
    assert client.get("/models/m2").get_json() == {"modelName": "m2", "modelUrl": str(two)}
    listed = client.get("/models").get_json()["models"]
    assert [m["modelName"] for m in listed] == ["m1", "m2"]
    assert client.delete("/models/m1").status_code == 200
    assert invoke(client, "m1").status_code == 404
    assert client.get("/models/m1").status_code == 404
    assert client.delete("/models/m1").status_code == 404
    assert invoke(client, "m2").get_json() == [30.0]


def test_a_second_load_of_a_name_is_a_409_and_bad_bodies_are_400(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    one = make_model(tmp_path, "m1", 1.0)
    assert load(client, "m1", one).status_code == 200
    assert load(client, "m1", one).status_code == 409
    assert client.post("/models", json={"model_name": "x"}).status_code == 400  # no url
    assert client.post("/models", data=b"{nope", content_type="application/json").status_code == 400
    missing = load(client, "ghost", tmp_path / "nowhere")
    assert missing.status_code == 404 and "does not exist" in missing.get_json()["message"]


def test_an_unreadable_model_directory_is_a_json_404(tmp_path: Path) -> None:
    import os

    client = mme_client(tmp_path)
    model = make_model(tmp_path, "locked", 1.0)
    if os.geteuid() == 0:  # root reads everything: make the path itself wrong instead
        url: Path | str = str(model / "factor.json")  # a file, not a directory
    else:
        model.parent.chmod(0)
        url = model
    try:
        response = load(client, "locked", url)
    finally:
        model.parent.chmod(0o755)
    assert response.status_code == 404
    assert "cannot be read" in response.get_json()["message"]


def test_pagination_with_next_page_token_and_limit(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    for i in range(5):
        assert load(client, f"m{i}", make_model(tmp_path, f"m{i}", 1.0)).status_code == 200
    first = client.get("/models?limit=2").get_json()
    assert [m["modelName"] for m in first["models"]] == ["m0", "m1"]
    second = client.get(f"/models?limit=2&next_page_token={first['nextPageToken']}").get_json()
    third = client.get(f"/models?limit=2&next_page_token={second['nextPageToken']}").get_json()
    assert [m["modelName"] for m in third["models"]] == ["m4"] and "nextPageToken" not in third
    assert client.get("/models?limit=0").status_code == 400


def test_full_is_a_507_and_lru_eviction_makes_room(tmp_path: Path) -> None:
    client = mme_client(tmp_path, BYOC_MME_MAX_MODELS="2")
    for name in ("a", "b"):
        assert load(client, name, make_model(tmp_path, name, 1.0)).status_code == 200
    full = load(client, "c", make_model(tmp_path, "c", 1.0))
    assert full.status_code == 507 and "at most 2 models" in full.get_json()["message"]
    budget = mme_client(tmp_path / "other", BYOC_MME_MEMORY_BUDGET_MB="1")
    assert load(budget, "a", make_model(tmp_path / "other", "a", 1.0)).status_code == 507

    lru = mme_client(tmp_path / "lru", BYOC_MME_MAX_MODELS="2", BYOC_MME_EVICTION="lru")
    for name in ("a", "b"):
        assert load(lru, name, make_model(tmp_path / "lru", name, 1.0)).status_code == 200
        time.sleep(0.02)
    assert invoke(lru, "a").status_code == 200  # a is now the most recently used
    assert load(lru, "c", make_model(tmp_path / "lru", "c", 1.0)).status_code == 200
    names = [m["modelName"] for m in lru.get("/models").get_json()["models"]]
    assert names == ["a", "c"]  # b, the least recently used, went


def test_two_models_with_same_named_sibling_modules_keep_their_own(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    code = """
import numpy as np
from helper import OFFSET

def model_fn(model_dir):
    return OFFSET

def predict_fn(data, offset):
    return np.asarray(data).sum(axis=1) + offset
"""
    for name, offset in (("left", 100), ("right", 200)):
        model = make_model(tmp_path, name, 1.0, code=code)
        (model / "code" / "helper.py").write_text(f"OFFSET = {offset}\n")
        assert load(client, name, model).status_code == 200
    assert invoke(client, "left").get_json() == [103.0]
    assert invoke(client, "right").get_json() == [203.0]  # not left's helper.py


def test_a_model_without_code_uses_the_images_handler(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(textwrap.dedent(SCALED))
    client = mme_client(tmp_path)
    assert load(client, "plain", make_model(tmp_path, "plain", 2.0, code=None)).status_code == 200
    assert invoke(client, "plain").get_json() == [6.0]


def test_requirements_txt_is_refused_with_the_reason(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    model = make_model(tmp_path, "reqs", 1.0)
    (model / "code" / "requirements.txt").write_text("scikit-learn\n")
    refused = load(client, "reqs", model)
    assert refused.status_code == 400
    assert "byoc installs nothing at load time" in refused.get_json()["message"]
    assert client.get("/models").get_json() == {"models": []}  # nothing left behind


def test_invocations_on_a_multi_model_endpoint_says_where_to_go(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    response = client.post("/invocations", data="1\n", content_type="text/csv")
    assert response.status_code == 404
    assert "POST /models/NAME/invoke" in response.get_json()["message"]


@pytest.mark.process
def test_every_worker_serves_a_model_and_delete_frees_it_in_all(tmp_path: Path) -> None:
    """Two gunicorn workers: load through one, invoke through both, delete through one."""
    code = (
        SCALED
        + "\nimport os\ndef output_fn(prediction, accept):\n"
        + ("    return f'{prediction.tolist()[0]} pid={os.getpid()}'\n")
    )
    model = make_model(tmp_path, "shared", 5.0, code=code)
    env = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    with ServerProcess(tmp_path, env=env) as server:
        server.wait_healthy()
        url = server.url
        assert (
            requests.post(
                url + "/models", json={"model_name": "shared", "url": str(model)}, timeout=30
            ).status_code
            == 200
        )
        pids = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:  # new connections: both workers
            with requests.Session() as session:
                answer = session.post(
                    url + "/models/shared/invoke",
                    data="1,1\n",
                    headers={"Content-Type": "text/csv"},
                    timeout=30,
                )
            assert answer.status_code == 200, answer.text
            value, pid = answer.text.split(" pid=")
            assert float(value) == 10.0
            pids.add(pid)
        assert len(pids) == 2, "both workers served the model loaded through one"
        started = time.monotonic()
        assert requests.delete(url + "/models/shared", timeout=400).status_code == 200
        print(f"DELETE answered in {time.monotonic() - started:.2f}s")
        for _ in range(20):  # whichever worker answers: gone everywhere once DELETE answered
            gone = requests.post(
                url + "/models/shared/invoke",
                data="1,1\n",
                headers={"Content-Type": "text/csv"},
                timeout=30,
            )
            assert gone.status_code == 404


@pytest.mark.docker
def test_the_image_as_a_multi_model_endpoint(image: str, trained: Path, tmp_path: Path) -> None:
    """The real image with SAGEMAKER_MULTI_MODEL=true: two copies of the Keras model."""
    import shutil

    from byoc.local import http_request, start_endpoint

    models = tmp_path / "models"
    for name in ("a1b2", "c3d4"):  # SageMaker's names are opaque hashes
        shutil.copytree(trained / "model", models / name / "model")
    endpoint = start_endpoint(
        image,
        trained / "model",
        isolated=True,
        env={"SAGEMAKER_MULTI_MODEL": "true"},
        mounts={models: "/opt/ml/models"},
    )
    try:
        endpoint.wait_healthy(120)
        status, body = http_request(endpoint.url + "/models", 10)
        assert (status, json.loads(body)) == (200, {"models": []})
        for name in ("a1b2", "c3d4"):
            load = json.dumps({"model_name": name, "url": f"/opt/ml/models/{name}/model"})
            status, body = http_request(
                endpoint.url + "/models", 120, load.encode(), {"Content-Type": "application/json"}
            )
            assert status == 200, body
        status, body = http_request(
            endpoint.url + "/models/c3d4/invoke",
            30,
            b"4,140,86,2790,15.6,82,1\n",
            {"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Model": "c3d4.tar.gz"},
        )
        assert status == 200, body
        (mpg,) = json.loads(body)
        assert 10 < mpg < 50
    finally:
        endpoint.stop()


def test_a_delete_while_a_request_runs_lets_it_finish(tmp_path: Path) -> None:
    from byoc.serving import Service

    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(tmp_path), "SAGEMAKER_MULTI_MODEL": "true"}
    )
    service = Service(settings)
    registry = service.models
    assert registry is not None
    registry.load("m", str(make_model(tmp_path, "m", 2.0)))
    runtime = registry.runtime("m")  # a request holds the runtime...
    registry.unload("m")  # ...when the model is deleted
    answer = runtime.invoke(b"1,2\n", "text/csv", None, {}, "id")
    assert answer.status == 200 and answer.body == b"[6.0]"


def test_unicode_digits_in_limit_or_token_are_a_400(tmp_path: Path) -> None:
    client = mme_client(tmp_path)
    assert client.get("/models?limit=\u00b2").status_code == 400
    assert client.get("/models?next_page_token=\u00b2").status_code == 400
