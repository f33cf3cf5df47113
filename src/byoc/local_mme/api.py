"""The container's ``/models`` API, as SageMaker's front end calls it (one request each).

Timeouts are SageMaker's: a load or an unload may take 360 s, an invocation 60 s. No answer
at all (refused, reset, timed out) raises ``OSError``; every HTTP status is returned.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass

from ..local import error_message

__all__ = ["ApiError", "ModelsApi", "Reply"]

LOAD_TIMEOUT = 360.0
INVOKE_TIMEOUT = 60.0
DESCRIBE_TIMEOUT = 10.0
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        """The container's ``message``, else its body, for a one-line explanation."""
        return error_message(self.body)


class ApiError(RuntimeError):
    """The container answered a ``/models`` call in a way the contract does not allow."""

    def __init__(self, call: str, reply: Reply) -> None:
        super().__init__(f"{call} answered {reply.status}: {reply.message()}")
        self.reply = reply


class ModelsApi:
    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def _request(
        self,
        method: str,
        path: str,
        timeout: float,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.read(), response.getheader("Content-Type"))
        except http.client.HTTPException as exc:
            raise OSError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()

    def loaded(self, name: str) -> bool:
        reply = self._request("GET", f"/models/{_quote(name)}", DESCRIBE_TIMEOUT)
        if reply.status not in (200, 404):
            raise ApiError(f"GET /models/{name}", reply)
        return reply.status == 200

    def load(self, name: str, url: str) -> Reply:
        body = json.dumps({"model_name": name, "url": url}).encode()
        headers = {"Content-Type": "application/json"}
        return self._request("POST", "/models", LOAD_TIMEOUT, body, headers)

    def unload(self, name: str) -> Reply:
        return self._request("DELETE", f"/models/{_quote(name)}", LOAD_TIMEOUT)

    def names(self) -> list[str]:
        """Every loaded model's name, following ``nextPageToken`` as SageMaker does."""
        names: list[str] = []
        token: str | None = None
        for _ in range(10_000):
            query = "?" + urllib.parse.urlencode({"next_page_token": token}) if token else ""
            reply = self._request("GET", "/models" + query, DESCRIBE_TIMEOUT)
            if reply.status != 200:
                raise ApiError("GET /models", reply)
            try:
                page = json.loads(reply.body)
                names += [str(model["modelName"]) for model in page["models"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError(f"GET /models (not the documented shape: {exc!r})", reply) from None
            token = page.get("nextPageToken")
            if not token:
                return names
        raise ApiError("GET /models (a nextPageToken that never ends)", reply)

    def invoke(
        self, name: str, body: bytes, content_type: str, accept: str | None, target: str
    ) -> Reply:
        headers = {"Content-Type": content_type, TARGET_MODEL: target}
        if accept:
            headers["Accept"] = accept
        return self._request(
            "POST", f"/models/{_quote(name)}/invoke", INVOKE_TIMEOUT, body, headers
        )


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
