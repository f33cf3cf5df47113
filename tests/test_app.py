"""In-process tests: the Flask test client over a temporary /opt/ml tree.

Every test runs twice, through the WSGI hot path and through the plain Flask routes.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from byoc.app import create_app
from byoc.core import Service
from byoc.settings import Settings

from .conftest import HANDLERS, ClientFactory, write_handler

LINEAR = """
import numpy as np

class Model:
    def predict(self, x):
        return np.asarray(x).sum(axis=1)

def model_fn(model_dir):
    return Model()
"""


def error_of(response) -> dict:
    assert response.is_json, response.data
    body = response.get_json()
    assert set(body) >= {"error", "message"} and body["message"]
    assert "Traceback" not in body["message"]
    return body


def test_ping_is_200_with_empty_body_once_loaded(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.data == b""


def test_csv_in_json_out_with_only_model_fn(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.post(
        "/invocations",
        data="1,2,3\n4,5,6\n",
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == [6.0, 15.0]


@pytest.mark.parametrize("accept", [None, "*/*"])
def test_absent_accept_answers_json_as_the_aws_toolkit_does(
    make_client: ClientFactory, accept: str | None
) -> None:
    client = make_client(LINEAR)
    headers = {"Content-Type": "text/csv", **({"Accept": accept} if accept else {})}
    response = client.post("/invocations", data="1,2\n3,4\n", headers=headers)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == [3.0, 7.0]


def test_absent_accept_answers_in_the_request_type_when_asked(make_client: ClientFactory) -> None:
    client = make_client(LINEAR, env={"BYOC_ACCEPT_DEFAULT": "request"})
    response = client.post("/invocations", data="1,2\n3,4\n", content_type="text/csv")
    assert response.status_code == 200
    assert response.content_type == "text/csv"
    assert response.data == b"3.0\n7.0\n"


def test_star_accept_uses_configured_default(make_client: ClientFactory) -> None:
    client = make_client(
        LINEAR, env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"}
    )
    response = client.post(
        "/invocations", data="1,2\n", headers={"Content-Type": "text/csv", "Accept": "*/*"}
    )
    assert response.content_type == "application/jsonlines"
    assert response.data == b"3.0\n"


def test_accept_q_values_choose_the_preferred_type(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.post(
        "/invocations",
        data="[[1, 2]]",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json;q=0.5, text/csv;q=0.9, application/x-npy;q=0",
        },
    )
    assert response.status_code == 200
    assert response.content_type == "text/csv"


def test_npy_round_trip(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0], [3.0, 4.5]]))
    response = client.post(
        "/invocations",
        data=buffer.getvalue(),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    assert response.status_code == 200
    assert np.load(io.BytesIO(response.data)).tolist() == [3.0, 7.5]


def test_content_type_parameters_are_honoured(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    body = "1,2\n".encode("utf-16")
    response = client.post(
        "/invocations",
        data=body,
        headers={"Content-Type": "Text/CSV; charset=UTF-16", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.data
    assert response.get_json() == [3.0]


def test_undecodable_body_is_400(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.post("/invocations", data="1,2\n3\n", content_type="text/csv")
    assert response.status_code == 400
    assert "row 2 has 1 columns, expected 2" in error_of(response)["message"]
    response = client.post("/invocations", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["error"] == "bad_request"
    response = client.post("/invocations", data=b"\xff\xfe1,2", content_type="text/csv")
    assert response.status_code == 400
    assert "UTF-8" in error_of(response)["message"]


def test_unsupported_content_type_is_415(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.post("/invocations", data=b"x", content_type="image/png")
    assert response.status_code == 415
    body = error_of(response)
    assert body["error"] == "unsupported_media_type"
    assert "text/csv" in body["message"]  # lists what is supported
    response = client.post("/invocations", data=b"1,2")
    assert response.status_code == 415
    assert "Content-Type header is required" in error_of(response)["message"]
    response = client.post("/invocations", data=b"1", content_type="text/csv; charset=klingon")
    assert response.status_code == 415


def test_unsupported_accept_is_406_before_predicting(
    make_client: ClientFactory, ml_root: Path
) -> None:
    client = make_client(
        """
        import pathlib

        class Model:
            def predict(self, x):
                pathlib.Path(__file__).with_name("predicted").write_text("yes")
                return x

        def model_fn(model_dir):
            return Model()
        """
    )
    response = client.post(
        "/invocations", data="1\n", headers={"Content-Type": "text/csv", "Accept": "image/png"}
    )
    assert response.status_code == 406
    assert "image/png" in error_of(response)["message"]
    assert not (ml_root / "model" / "code" / "predicted").exists()


def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = make_client(LINEAR, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0.001"})
    response = client.post("/invocations", data="1," * 600 + "1\n", content_type="text/csv")
    assert response.status_code == 413
    body = error_of(response)
    assert body["error"] == "payload_too_large"
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB" in body["message"]


def test_handler_exception_is_500_without_traceback(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            return object()

        def predict_fn(data, model):
            raise RuntimeError("the GPU caught fire")
        """
    )
    response = client.post("/invocations", data="1\n", content_type="text/csv")
    assert response.status_code == 500
    body = error_of(response)
    assert body["error"] == "model_error"
    assert "RuntimeError: the GPU caught fire" in body["message"]
    assert body["inference_id"]
    # the worker is still fine
    assert client.get("/ping").status_code == 200


def test_model_without_predict_is_500_naming_the_fix(make_client: ClientFactory) -> None:
    client = make_client("def model_fn(model_dir):\n    return 42\n")
    response = client.post("/invocations", data="1\n", content_type="text/csv")
    assert response.status_code == 500
    assert "define predict_fn" in error_of(response)["message"]


def test_handler_chooses_its_status_with_byoc_errors(make_client: ClientFactory) -> None:
    client = make_client(
        """
        from byoc.errors import ByocError

        def model_fn(model_dir):
            return None

        def predict_fn(data, model):
            raise ByocError("quota exceeded", status=429, code="too_many_requests")
        """
    )
    response = client.post("/invocations", data="1\n", content_type="text/csv")
    assert response.status_code == 429
    assert error_of(response) == {
        "error": "too_many_requests",
        "message": "quota exceeded",
        "inference_id": error_of(response)["inference_id"],
    }


def test_input_fn_value_error_is_400(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            return None

        def input_fn(body, content_type):
            raise ValueError("field 'age' is missing")
        """
    )
    response = client.post("/invocations", data="{}", content_type="application/json")
    assert response.status_code == 400
    assert "field 'age' is missing" in error_of(response)["message"]


def test_model_load_failure_is_503_with_reason(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            raise FileNotFoundError("model.joblib is not in " + model_dir)
        """
    )
    for response in (
        client.get("/ping"),
        client.post("/invocations", data="1\n", content_type="text/csv"),
    ):
        assert response.status_code == 503
        body = error_of(response)
        assert body["error"] == "model_load_failed"
        assert "FileNotFoundError: model.joblib is not in" in body["message"]


def test_no_handler_is_503_naming_where_it_looked(
    make_client: ClientFactory, ml_root: Path
) -> None:
    client = make_client()
    response = client.get("/ping")
    assert response.status_code == 503
    message = error_of(response)["message"]
    assert str(ml_root / "model" / "code" / "inference.py") in message
    assert str(ml_root / "code" / "inference.py") in message


def test_ping_is_503_while_loading(ml_root: Path) -> None:
    write_handler(ml_root, LINEAR)
    settings = Settings.from_env({"SAGEMAKER_BASE_DIR": str(ml_root)})
    service = Service(settings)
    client = create_app(settings, service).test_client()
    response = client.get("/ping")
    assert response.status_code == 503
    assert error_of(response) == {"error": "model_not_ready", "message": "model is loading"}
    service.load()
    assert client.get("/ping").status_code == 200


def test_invocation_waits_for_a_model_still_loading(ml_root: Path) -> None:
    write_handler(
        ml_root,
        """
        import time

        def model_fn(model_dir):
            time.sleep(0.5)
            return lambda x: x * 2
        """,
    )
    settings = Settings.from_env({"SAGEMAKER_BASE_DIR": str(ml_root)})
    service = Service(settings)
    client = create_app(settings, service).test_client()
    service.start_loading()
    response = client.post(
        "/invocations",
        data="21\n",
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_json() == [[42.0]]


def test_toolkit_handler_runs_unmodified(make_client: ClientFactory, ml_root: Path) -> None:
    shutil.copy(HANDLERS / "toolkit_style.py", ml_root / "model" / "code" / "inference.py")
    (ml_root / "model" / "scale.json").write_text(json.dumps({"scale": 10}))
    client = make_client()
    response = client.post(
        "/invocations",
        data="1,2\n3,4\n",
        headers={"Content-Type": "text/csv; charset=utf-8", "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.data
    assert response.content_type == "text/csv"
    assert response.data.decode().split() == ["10.0,20.0", "30.0,40.0"]
    response = client.post("/invocations", json={"instances": [[1, 2]]}, headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert response.get_json() == [[10.0, 20.0]]


def test_custom_attributes_reach_the_handler_and_come_back(
    make_client: ClientFactory, ml_root: Path
) -> None:
    shutil.copy(HANDLERS / "toolkit_style.py", ml_root / "model" / "code" / "inference.py")
    (ml_root / "model" / "scale.json").write_text(json.dumps({"scale": 1}))
    client = make_client()
    response = client.post(
        "/invocations",
        json={"instances": [[1]]},
        headers={"X-Amzn-SageMaker-Custom-Attributes": "trace=abc"},
    )
    assert response.status_code == 200
    assert response.headers["X-Amzn-SageMaker-Custom-Attributes"] == "echo=1"
    response = client.post(
        "/invocations",
        json={"instances": [[1]]},
        headers={"X-Amzn-SageMaker-Custom-Attributes": "fail=400"},
    )
    assert response.status_code == 400  # GenericInferenceToolkitError(400, ...)
    assert error_of(response)["message"] == "custom attributes asked for a 400"


def test_toolkit_unsupported_format_maps_to_415_and_406(
    make_client: ClientFactory, ml_root: Path
) -> None:
    shutil.copy(HANDLERS / "toolkit_style.py", ml_root / "model" / "code" / "inference.py")
    (ml_root / "model" / "scale.json").write_text(json.dumps({"scale": 1}))
    client = make_client()
    response = client.post("/invocations", data=b"x", content_type="image/png")
    assert response.status_code == 415
    response = client.post(
        "/invocations", json={"instances": [[1]]}, headers={"Accept": "image/png"}
    )
    assert response.status_code == 406


def test_transform_fn_with_context_sets_status_and_type(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir, context):
            assert context.system_properties["model_dir"] == model_dir
            return "m"

        def transform_fn(model, body, content_type, accept, context):
            assert isinstance(body, str) and content_type == "application/json"
            context.set_response_status(201)
            context.response_custom_attributes = "seen=" + (context.custom_attributes or "")
            return body.upper(), "text/plain"
        """
    )
    response = client.post(
        "/invocations",
        data='"abc"',
        headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "k=v"},
    )
    assert response.status_code == 201
    assert response.data == b'"ABC"'
    assert response.content_type == "text/plain"
    assert response.headers["X-Amzn-SageMaker-Custom-Attributes"] == "seen=k=v"


def test_binary_input_reaches_input_fn_as_bytes(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            return None

        def input_fn(body, content_type):
            return (type(body).__name__, content_type, len(body))

        def predict_fn(data, model):
            return data

        def output_fn(prediction, accept):
            return repr(prediction), "text/plain"
        """
    )
    response = client.post("/invocations", data=b"\x89PNG\x00", content_type="image/png")
    assert response.status_code == 200
    assert response.data == b"('bytes', 'image/png', 5)"


def test_output_fn_gets_the_preferred_concrete_accept(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            return None

        def predict_fn(data, model):
            return data

        def output_fn(prediction, accept):
            return accept
        """
    )
    cases = {
        None: "application/json",
        "*/*": "application/json",
        "text/csv;q=0.2, application/jsonlines": "application/jsonlines",
    }
    for accept, expected in cases.items():
        headers = {"Content-Type": "text/csv"}
        if accept:
            headers["Accept"] = accept
        response = client.post("/invocations", data="1\n", headers=headers)
        assert response.data.decode() == expected


def test_handler_with_wrong_arity_fails_to_load_clearly(make_client: ClientFactory) -> None:
    client = make_client(
        """
        def model_fn(model_dir):
            return None

        def predict_fn(a, b, c, d):
            return None
        """
    )
    response = client.get("/ping")
    assert response.status_code == 503
    assert "predict_fn takes 4 arguments" in error_of(response)["message"]


def test_unknown_routes_and_methods_answer_json(make_client: ClientFactory) -> None:
    client = make_client(LINEAR)
    response = client.get("/nope")
    assert response.status_code == 404
    assert error_of(response)["error"] == "not_found"
    response = client.get("/invocations")
    assert response.status_code == 405
    assert error_of(response)["error"] == "method_not_allowed"


def test_inference_id_is_in_the_access_log(
    make_client: ClientFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(LINEAR)
    client.post(
        "/invocations",
        data="1\n",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "req-123"},
    )
    client.post("/invocations", data="1\n", content_type="text/csv")
    lines = [line for line in capfd.readouterr().err.splitlines() if "byoc.access" in line]
    assert len(lines) == 2
    assert "POST /invocations 200" in lines[0] and "id=req-123" in lines[0]
    assert "id=" in lines[1] and "id=req-123" not in lines[1]


def test_json_access_log_carries_fields(
    make_client: ClientFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(LINEAR, env={"BYOC_LOG_FORMAT": "json"})
    client.post(
        "/invocations",
        data="x\n",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "req-9"},
    )
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if '"byoc.access"' in line
    ]
    assert lines and lines[0]["inference_id"] == "req-9" and lines[0]["status"] == 400
