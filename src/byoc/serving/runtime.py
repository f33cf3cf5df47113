"""One model: its directory, handlers, loaded model, pipeline and state.

``load`` imports the handler and calls ``model_fn`` (never raising: a failure is kept and
reported by ``health``); ``invoke`` waits for a model still loading (up to the timeout),
checks the payload limit and runs the pipeline.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..codecs import CodecRegistry
from ..context import Context, RequestHeaders
from ..errors import PayloadTooLarge, ServiceUnavailable
from ..fairness import FairSemaphore
from ..handler import Handlers, load_handlers
from ..settings import Settings
from .http import AnyResponse, Response, error_response
from .negotiation import Negotiator
from .pipeline import Pipeline, context_for

__all__ = ["ModelRuntime", "ModelState", "too_large_message"]

log = logging.getLogger("byoc.serving")


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


def too_large_message(size: int, limit: int) -> str:
    return (
        f"request body is {size} bytes; the limit is {limit} bytes "
        f"({limit / 1048576:g} MiB, set by SAGEMAKER_MAX_PAYLOAD_IN_MB)"
    )


class ModelRuntime:
    def __init__(
        self,
        settings: Settings,
        codecs: CodecRegistry,
        model_dir: str,
        handlers: Handlers | None = None,
        name: str = "model",
    ) -> None:
        self.settings = settings
        self.name = name
        self.model_dir = model_dir
        self.negotiator = Negotiator(
            codecs, settings.default_accept, settings.accept_default == "request"
        )
        self._handlers = handlers
        self._state = ModelState.LOADING
        self._failure: str | None = None
        self._loaded = threading.Event()
        # First come, first served: an unfair lock starves some requests (p99 x3).
        self._slots = FairSemaphore(settings.handler_concurrency)
        self.pipeline: Pipeline | None = None

    @property
    def state(self) -> ModelState:
        return self._state

    @property
    def failure(self) -> str | None:
        return self._failure

    def load(self) -> None:
        """Import the handler and load the model; never raises (the failure is kept)."""
        started = time.perf_counter()
        try:
            handlers = self._handlers or load_handlers(self.settings)
            context = Context(self.model_dir)
            if handlers.pre_model_fn is not None:
                handlers.pre_model_fn(context, self.model_dir)
            model = handlers.model_fn(context, self.model_dir)
            if handlers.model_warmup_fn is not None:
                handlers.model_warmup_fn(context, self.model_dir, model)
            self.pipeline = Pipeline(handlers, model, self.negotiator, self._slots, self.settings)
            self._handlers = handlers
            self._check_default_accept(handlers)
            self._state = ModelState.READY
            log.info(
                "model loaded from %s by %s in %.3fs",
                self.model_dir,
                handlers.source,
                time.perf_counter() - started,
            )
        except BaseException as exc:
            self._failure = f"{type(exc).__name__}: {exc}"
            self._state = ModelState.FAILED
            log.error("model failed to load: %s", self._failure, exc_info=True)
            if isinstance(exc, KeyboardInterrupt):
                raise
        finally:
            self._loaded.set()

    def start_loading(
        self,
        slot: Callable[[], AbstractContextManager[object]] | None = None,
        then: Callable[[], None] | None = None,
    ) -> threading.Thread:
        """Load in a background thread (``slot`` entered around it, ``then`` called after)."""

        def run() -> None:
            with slot() if slot is not None else contextlib.nullcontext():
                self.load()
            if then is not None:
                then()

        thread = threading.Thread(target=run, name="byoc-model-loader", daemon=True)
        thread.start()
        return thread

    def wait_until_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def _check_default_accept(self, handlers: Handlers) -> None:
        accept = self.settings.default_accept
        codecs = self.negotiator.codecs
        custom_output = handlers.output_fn or handlers.transform_fn
        if accept and not custom_output and accept.lower() not in codecs:
            log.warning(
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=%s has no codec (have: %s)",
                accept,
                ", ".join(codecs.media_types),
            )

    def health(self) -> Response:
        if self._state is ModelState.READY:
            return Response(200, b"", "text/plain")
        if self._state is ModelState.FAILED:
            error = ServiceUnavailable(
                f"model failed to load: {self._failure}", code="model_load_failed"
            )
        else:
            error = ServiceUnavailable("model is loading")
        return error_response(error)

    def _await_model(self) -> Pipeline:
        if self._state is ModelState.LOADING:
            self._loaded.wait(self.settings.timeout)
        if self._state is ModelState.FAILED:
            raise ServiceUnavailable(
                f"model failed to load: {self._failure}", code="model_load_failed"
            )
        if self._state is not ModelState.READY or self.pipeline is None:
            raise ServiceUnavailable("model is still loading")
        return self.pipeline

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: RequestHeaders,
        inference_id: str,
    ) -> AnyResponse:
        """Predict for one request; raises ``ByocError`` (the caller answers it)."""
        pipeline = self.pipeline if self._state is ModelState.READY else self._await_model()
        assert pipeline is not None
        limit = self.settings.max_payload_bytes
        if len(body) > limit:
            raise PayloadTooLarge(too_large_message(len(body), limit))
        media_type = self.negotiator.media_type(content_type)
        context = context_for(pipeline.handlers, self.model_dir, attributes, inference_id)
        return pipeline.run(body, media_type, accept, context)

    @property
    def batcher(self) -> Any:
        return self.pipeline.batcher if self.pipeline is not None else None
