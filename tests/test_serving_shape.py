"""The serving package's contract rules: response-like results, one code per status,
the route table (405 with Allow), the default accept."""

from __future__ import annotations

from byoc.errors import ServiceUnavailable
from byoc.serving.statuses import Stage, classify, code_for

from .conftest import ClientFactory
from .test_app import LINEAR, error_of

FLASK_OUTPUT = (
    LINEAR
    + """
import json
from flask import Response

def output_fn(prediction, accept):
    # as the SageMaker scikit-learn inference-pipeline featurizer does
    return Response(json.dumps({"sum": prediction.tolist()}), status=201,
                    mimetype="application/json", headers={"X-Featurizer": "yes"})
"""
)

PLAIN_RESPONSE = (
    LINEAR
    + '''
class Reply:
    """Like sagemaker_containers' old response: body, content type, status, headers."""
    def __init__(self, body):
        self.body = body
        self.content_type = "text/plain; charset=utf-8"
        self.status_code = 200
        self.headers = [("X-Plain", "1"), ("Content-Length", "999")]

def output_fn(prediction, accept):
    return Reply(",".join(str(v) for v in prediction.tolist()))
'''
)


def test_an_output_fn_may_return_a_flask_response(make_client: ClientFactory) -> None:
    client = make_client(FLASK_OUTPUT)
    response = client.post("/invocations", data="1,2\n", content_type="text/csv")
    assert response.status_code == 201, response.data
    assert response.get_json() == {"sum": [3.0]}
    assert response.headers["X-Featurizer"] == "yes"


def test_an_output_fn_may_return_any_response_like_object(make_client: ClientFactory) -> None:
    client = make_client(PLAIN_RESPONSE)
    response = client.post("/invocations", data="1,2\n3,4\n", content_type="text/csv")
    assert response.status_code == 200
    assert response.data == b"3.0,7.0"
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.headers["X-Plain"] == "1"
    assert response.headers["Content-Length"] == "7"  # framing stays the server's


def test_a_handler_503_and_byocs_own_503_carry_one_code() -> None:
    class Toolkit(Exception):
        status_code = 503

    assert classify(Stage.PREDICT_FN, Toolkit("overloaded")).code == ServiceUnavailable.code
    assert code_for(503) == ServiceUnavailable("x").code
    assert code_for(418) == "client_error" and code_for(502) == "model_error"


def test_a_known_path_with_another_method_says_which_are_allowed(
    make_client: ClientFactory,
) -> None:
    client = make_client(LINEAR)
    response = client.put("/ping")
    assert response.status_code == 405
    assert error_of(response)["error"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, HEAD"


def test_the_body_is_read_in_one_place_and_a_bad_length_is_a_400() -> None:
    import io

    import pytest

    from byoc.errors import BadRequest, PayloadTooLarge
    from byoc.serving.routes import Request, read_body

    def request(length: str | None, body: bytes = b"12345") -> Request:
        return Request("POST", "/invocations", {}, io.BytesIO(body).read, length)

    assert read_body(request("5"), 10) == b"12345"
    assert read_body(request(None), 3) == b"1234"  # chunked: one byte past the limit
    for bad in ("abc", "-5"):
        with pytest.raises(BadRequest, match="invalid Content-Length"):
            read_body(request(bad), 10)
    with pytest.raises(PayloadTooLarge, match="the limit is 3 bytes"):
        read_body(request("5"), 3)
