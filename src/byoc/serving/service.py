"""The service of one worker process: settings, the model registry, the access log.

``invoke`` takes the bytes and headers of a request and returns a :class:`Response`,
never raising; ``ping`` says whether a prediction would succeed now. Adapters (the WSGI
hot path, Flask) only translate. Process-wide effects happen here, once: after the model
is loaded, what was loaded is frozen out of the cyclic GC.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..codecs import CodecRegistry, default_registry
from ..context import INFERENCE_ID, RequestHeaders
from ..errors import ByocError, InternalError
from ..handler import Handlers
from ..logs import AccessLog
from ..settings import Settings
from .http import AnyResponse, Response, StreamingResponse, error_response
from .multimodel import MultiModelRegistry
from .registry import ModelRegistry, SingleModel
from .runtime import ModelRuntime, ModelState

__all__ = ["Service"]

TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"

log = logging.getLogger("byoc.serving")


def _remove_state(models: MultiModelRegistry, root: str) -> None:
    models.close()
    shutil.rmtree(root, ignore_errors=True)


class Service:
    """One worker's model and the request pipeline around it."""

    def __init__(
        self,
        settings: Settings,
        *,
        handlers: Handlers | None = None,
        codecs: CodecRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.codecs = codecs or default_registry(settings.max_payload_bytes)
        self.runtime = ModelRuntime(
            settings, self.codecs, str(settings.paths.model_dir), handlers=handlers
        )
        self.models: MultiModelRegistry | None = None  # the /models API, when there is one
        self.registry: ModelRegistry = SingleModel(self.runtime)
        if settings.multi_model:
            root = settings.mme_state_dir
            owned = root is None  # in one process (tests, the Flask dev server): our own
            root = root or tempfile.mkdtemp(prefix="byoc-mme-")
            self.models = self.registry = MultiModelRegistry(settings, self.codecs, Path(root))
            if owned:  # removed when the service goes, or at exit
                weakref.finalize(self, _remove_state, self.models, root)
        self._access = (
            AccessLog(settings.log_format)
            if settings.access_log and settings.log_level <= logging.INFO
            else None
        )

    # -- model lifecycle ---------------------------------------------------
    @property
    def state(self) -> ModelState:
        return self.runtime.state

    @property
    def failure(self) -> str | None:
        return self.runtime.failure

    @property
    def _batcher(self) -> Any:
        return self.runtime.batcher

    def load(self) -> None:
        """Import the handler and load the model; never raises (the failure is kept).

        A multi-model endpoint loads nothing here: models come through ``POST /models``.
        """
        if self.models is None:
            self.runtime.load()
        self._freeze()

    def start_loading(
        self, slot: Callable[[], AbstractContextManager[object]] | None = None
    ) -> threading.Thread:
        """Load in a background thread so /ping can answer 503 meanwhile.

        ``slot``, if given, is entered around the load (the server uses it to load in at
        most one worker per CPU at a time).
        """
        if self.models is not None:
            models = self.models

            def start() -> None:  # this worker's follower: it loads its copies from now on
                models.copies.start()
                self._freeze()

            thread = threading.Thread(target=start, name="byoc-mme-start", daemon=True)
            thread.start()
            return thread
        return self.runtime.start_loading(slot, then=self._freeze)

    def wait_until_loaded(self, timeout: float | None = None) -> bool:
        return self.runtime.wait_until_loaded(timeout)

    @staticmethod
    def _freeze() -> None:
        # Everything loaded so far (framework, model) lives as long as the process: keep it
        # out of the cyclic GC, whose full passes over it are the slowest requests (p99)
        # otherwise, and which dirties copy-on-write pages after fork.
        gc.collect()
        gc.freeze()

    # -- requests -----------------------------------------------------------
    def ping(self) -> Response:
        return self.registry.ping()

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: RequestHeaders,
        model: str | None = None,
    ) -> AnyResponse:
        """Answer one ``/invocations`` (or ``/models/NAME/invoke``) request; never raises."""
        started = time.perf_counter()
        inference_id = attributes.get(INFERENCE_ID) or os.urandom(16).hex()
        response: AnyResponse
        try:
            response = self.registry.runtime(model).invoke(
                body, content_type, accept, attributes, inference_id
            )
        except ByocError as exc:
            response = error_response(exc, inference_id)
        except Exception as exc:  # a bug of ours: log it, answer 500
            log.exception("internal error in request %s", inference_id)
            response = error_response(InternalError(f"{type(exc).__name__}: {exc}"), inference_id)
        if self._access is None:
            return response
        route = "POST /invocations"
        if model is not None:  # the client's artifact path, for the log only
            target = attributes.get(TARGET_MODEL)
            route = f"POST /models/{model}/invoke" + (f" target={target}" if target else "")
        if isinstance(response, StreamingResponse):  # the access line when the stream ends
            status = response.status

            def logged(sent: int, failed: bool) -> None:
                self._log_access(route, started, len(body), status, sent, inference_id, failed)

            response.body.on_close.append(logged)
        else:
            self._log_access(
                route, started, len(body), response.status, len(response.body), inference_id,
                False,
            )  # fmt: skip
        return response

    def _log_access(
        self, route: str, started: float, size_in: int, status: int, size_out: int,
        inference_id: str, broken: bool,
    ) -> None:  # fmt: skip
        assert self._access is not None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._access.write(
            f"{route} {status} {elapsed_ms:.2f}ms in={size_in} out={size_out} "
            f"id={inference_id}" + (" stream=broken" if broken else ""),
            inference_id=inference_id,
            status=status,
            duration_ms=round(elapsed_ms, 3),
        )
