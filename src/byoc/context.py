"""The ``context`` argument handlers receive.

It speaks the multi-model-server ``Context`` API that sagemaker-inference handlers use
(``system_properties``, ``request_processor[0]``, ``get_request_header(0, key)``,
``set_response_content_type(0, value)``, ``set_response_status(code, phrase)``, ...) and
adds plain attributes: ``custom_attributes``, ``inference_id``, ``model_dir``,
``response_custom_attributes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

__all__ = ["CUSTOM_ATTRIBUTES", "INFERENCE_ID", "Context", "RequestHeaders", "RequestProcessor"]

RequestHeaders: TypeAlias = "Mapping[str, str] | Headers"
"""Request headers: a plain mapping (tests, in-process callers) or werkzeug's headers."""

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"


class RequestProcessor:
    """Request headers in, response status and headers out (multi-model-server's shape)."""

    def __init__(self, headers: RequestHeaders) -> None:
        self._request_headers = headers
        self._status_code = 200
        self._reason_phrase: str | None = None
        self._response_headers: dict[str, str] = {}

    def get_request_property(self, key: str) -> str | None:
        value = self._request_headers.get(key)
        if value is None:
            lowered = key.lower()
            for name, candidate in self._request_headers.items():
                if name.lower() == lowered:
                    return candidate
        return value

    def get_request_properties(self) -> RequestHeaders:
        return self._request_headers

    def report_status(self, code: int, reason_phrase: str | None = None) -> None:
        self._status_code = int(code)
        self._reason_phrase = reason_phrase

    def get_response_status_code(self) -> int:
        return self._status_code

    def get_response_status_phrase(self) -> str | None:
        return self._reason_phrase

    def add_response_property(self, key: str, value: str) -> None:
        self._response_headers[key] = value

    def get_response_headers(self) -> dict[str, str]:
        return self._response_headers

    def get_response_header(self, key: str) -> str | None:
        return self._response_headers.get(key)


class Context:
    """Per-request context (at load time: the same object with no request headers)."""

    def __init__(
        self,
        model_dir: str,
        headers: RequestHeaders | None = None,
        inference_id: str | None = None,
        model_name: str = "model",
    ) -> None:
        self.model_name = model_name
        self.model_dir = model_dir
        self.inference_id = inference_id
        self._system_properties: dict[str, Any] = {
            "model_dir": model_dir,
            "gpu_id": None,
            "batch_size": 1,
            "server_name": "byoc",
        }
        self.request_processor = [RequestProcessor(headers or {})]
        self.request_ids = {0: inference_id} if inference_id else None
        self.metrics: Any = None

    # -- byoc's plain API -------------------------------------------------
    @property
    def system_properties(self) -> dict[str, Any]:
        return self._system_properties

    @property
    def custom_attributes(self) -> str | None:
        """``X-Amzn-SageMaker-Custom-Attributes`` as the client sent it."""
        return self.request_processor[0].get_request_property(CUSTOM_ATTRIBUTES)

    @property
    def response_custom_attributes(self) -> str | None:
        return self.request_processor[0].get_response_header(CUSTOM_ATTRIBUTES)

    @response_custom_attributes.setter
    def response_custom_attributes(self, value: str) -> None:
        self.request_processor[0].add_response_property(CUSTOM_ATTRIBUTES, value)

    # -- multi-model-server's API ----------------------------------------
    def get_request_id(self, idx: int = 0) -> str | None:
        return self.inference_id

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_processor[idx].get_request_property(key)

    def get_all_request_header(self, idx: int) -> RequestHeaders:
        return self.request_processor[idx].get_request_properties()

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.set_response_header(idx, "content-type", value)

    def get_response_content_type(self, idx: int) -> str | None:
        return self.get_response_headers(idx).get("content-type")

    def get_response_status(self, idx: int) -> tuple[int, str | None]:
        processor = self.request_processor[idx]
        return processor.get_response_status_code(), processor.get_response_status_phrase()

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.request_processor[idx].report_status(code, reason_phrase=phrase)

    def set_all_response_status(self, code: int = 200, phrase: str = "") -> None:
        for processor in self.request_processor:
            processor.report_status(code, reason_phrase=phrase)

    def get_response_headers(self, idx: int) -> dict[str, str]:
        return self.request_processor[idx].get_response_headers()

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.request_processor[idx].add_response_property(key, value)
