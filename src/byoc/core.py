"""The pure serving core: no web framework in here.

:class:`Service` owns the model of one worker process. ``invoke`` takes the bytes and
headers of a request and returns a :class:`Response`; ``ping`` says whether a
prediction would succeed now. Adapters (WSGI hot path, Flask) only translate.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from .batching import Batcher
from .codecs import Codec, CodecRegistry, default_registry
from .codecs._text import decode_text
from .context import INFERENCE_ID, Context, RequestHeaders
from .errors import (
    BadRequest,
    ByocError,
    InternalError,
    ModelError,
    NotAcceptable,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from .fairness import FairSemaphore
from .handler import HandlerFn, Handlers, load_handlers
from .logs import AccessLog
from .media import MediaType, negotiate, parse_accept, parse_media_type
from .settings import Settings

__all__ = ["ModelState", "Response", "Service", "error_response"]

log = logging.getLogger("byoc.serving")
_T = TypeVar("_T")

JSON = "application/json"
# What input_fn/transform_fn receive as str (UTF-8 decoded); everything else is bytes.
_TEXT_INPUT = frozenset({"application/json", "text/csv"})
# Response headers a handler may not set: the server owns framing.
_RESERVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-type"}
)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def error_response(error: ByocError, inference_id: str | None = None) -> Response:
    payload: dict[str, Any] = {"error": error.code, "message": error.message}
    if inference_id:
        payload["inference_id"] = inference_id
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(error, PayloadTooLarge):
        headers = (("Connection", "close"),)  # do not drain a body we refused
    return Response(error.status, json.dumps(payload).encode(), JSON, headers)


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


def _toolkit_status(exc: BaseException) -> int | None:
    """Status of errors that carry one (byoc's, the toolkit's ``status_code``)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return status
    return None


_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError, UnicodeError)


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
        self.codecs = codecs or default_registry()
        self._handlers = handlers
        self._model: Any = None
        self._state = ModelState.LOADING
        self._failure: str | None = None
        self._loaded = threading.Event()
        # First come, first served: an unfair lock starves some requests (p99 x3).
        self._slots = FairSemaphore(settings.handler_concurrency)
        self._access = (
            AccessLog(settings.log_format)
            if settings.access_log and settings.log_level <= logging.INFO
            else None
        )
        self._negotiated: dict[tuple[str | None, str | None], str | None] = {}
        self._model_dir = str(settings.paths.model_dir)
        self._batcher: Batcher | None = None

    # -- model lifecycle ---------------------------------------------------
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
            context = Context(self._model_dir)
            if handlers.pre_model_fn is not None:
                handlers.pre_model_fn(context, self._model_dir)
            model = handlers.model_fn(context, self._model_dir)
            if handlers.model_warmup_fn is not None:
                handlers.model_warmup_fn(context, self._model_dir, model)
            self._batcher = self._make_batcher(handlers, model)
            self._handlers, self._model = handlers, model
            self._check_default_accept(handlers)
            # Everything loaded so far (framework, model) lives as long as the process:
            # keep it out of the cyclic GC, whose full passes over it are the slowest
            # requests (p99) otherwise, and which dirties copy-on-write pages after fork.
            gc.collect()
            gc.freeze()
            self._state = ModelState.READY
            log.info(
                "model loaded from %s by %s in %.3fs",
                self._model_dir,
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
        self, slot: Callable[[], AbstractContextManager[object]] | None = None
    ) -> threading.Thread:
        """Load in a background thread so /ping can answer 503 meanwhile.

        ``slot``, if given, is entered around the load (the server uses it to load in at
        most one worker per CPU at a time).
        """

        def run() -> None:
            with slot() if slot is not None else contextlib.nullcontext():
                self.load()

        thread = threading.Thread(target=run, name="byoc-model-loader", daemon=True)
        thread.start()
        return thread

    def wait_until_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def _check_default_accept(self, handlers: Handlers) -> None:
        accept = self.settings.default_accept
        custom_output = handlers.output_fn or handlers.transform_fn
        if accept and not custom_output and accept.lower() not in self.codecs:
            log.warning(
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=%s has no codec (have: %s)",
                accept,
                ", ".join(self.codecs.media_types),
            )

    # -- requests -----------------------------------------------------------
    def ping(self) -> Response:
        if self._state is ModelState.READY:
            return Response(200, b"", "text/plain")
        if self._state is ModelState.FAILED:
            error = ServiceUnavailable(
                f"model failed to load: {self._failure}", code="model_load_failed"
            )
        else:
            error = ServiceUnavailable("model is loading")
        return error_response(error)

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: RequestHeaders,
    ) -> Response:
        """Answer one ``/invocations`` request; never raises."""
        started = time.perf_counter()
        inference_id = attributes.get(INFERENCE_ID) or os.urandom(16).hex()
        try:
            response = self._invoke(body, content_type, accept, attributes, inference_id)
        except ByocError as exc:
            response = error_response(exc, inference_id)
        except Exception as exc:  # a bug of ours: log it, answer 500
            log.exception("internal error in request %s", inference_id)
            response = error_response(InternalError(f"{type(exc).__name__}: {exc}"), inference_id)
        if self._access is not None:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            self._access.write(
                f"POST /invocations {response.status} {elapsed_ms:.2f}ms "
                f"in={len(body)} out={len(response.body)} id={inference_id}",
                inference_id=inference_id,
                status=response.status,
                duration_ms=round(elapsed_ms, 3),
            )
        return response

    def _await_model(self) -> None:
        if self._state is ModelState.LOADING:
            self._loaded.wait(self.settings.timeout)
        if self._state is ModelState.FAILED:
            raise ServiceUnavailable(
                f"model failed to load: {self._failure}", code="model_load_failed"
            )
        if self._state is not ModelState.READY:
            raise ServiceUnavailable("model is still loading")

    def _invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: RequestHeaders,
        inference_id: str,
    ) -> Response:
        if self._state is not ModelState.READY:
            self._await_model()
        if len(body) > self.settings.max_payload_bytes:
            raise PayloadTooLarge(self._too_large_message(len(body)))
        handlers = self._handlers
        assert handlers is not None
        media_type = self._media_type(content_type)
        custom_input = handlers.input_fn is not None or handlers.transform_fn is not None
        codec_in = None if custom_input else self._decoder(media_type)
        custom_output = handlers.output_fn is not None or handlers.transform_fn is not None
        if custom_output:
            out_type = self._user_accept(accept)
            codec_out = None
        else:
            out_type = self._negotiate(accept, media_type)
            codec_out = self.codecs.get(out_type)
        context = (
            Context(self._model_dir, attributes, inference_id) if handlers.needs_context else None
        )
        if handlers.transform_fn is not None:
            result = self._in_slot(
                True,
                self._call,
                "transform_fn",
                handlers.transform_fn,
                context,
                self._model,
                self._user_input(body, media_type),
                media_type.essence if media_type else None,
                out_type,
            )
            payload, out_type = self._normalise(result, out_type)
        elif self._batcher is None:
            # One slot for the three stages: no other request's handler code in between.
            payload, out_type = self._in_slot(
                True,
                self._pipeline,
                handlers,
                context,
                body,
                media_type,
                codec_in,
                out_type,
                codec_out,
            )
        else:
            # Batching: user code holds a slot per stage; the batcher takes one per call.
            data = self._in_slot(
                handlers.input_fn is not None,
                self._decode,
                handlers,
                context,
                body,
                media_type,
                codec_in,
            )
            try:
                prediction = self._batcher(data)
            except ByocError:
                raise
            except (Exception, SystemExit) as exc:
                raise self._classify(_predict_stage(handlers), exc) from exc
            payload, out_type = self._in_slot(
                handlers.output_fn is not None,
                self._encode,
                handlers,
                context,
                prediction,
                out_type,
                codec_out,
            )
        if context is None:
            return Response(200, payload, out_type)
        return self._from_context(context, payload, out_type)

    # -- pipeline stages ------------------------------------------------------
    def _in_slot(self, needed: bool, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)``, holding a handler slot if ``needed`` (handler code runs)."""
        if not needed:
            return fn(*args)
        if not self._slots.acquire(timeout=self.settings.timeout):
            raise ServiceUnavailable.busy()
        try:
            return fn(*args)
        finally:
            self._slots.release()

    def _pipeline(
        self,
        handlers: Handlers,
        context: Context | None,
        body: bytes,
        media_type: MediaType | None,
        codec_in: Codec | None,
        out_type: str,
        codec_out: Codec | None,
    ) -> tuple[bytes, str]:
        data = self._decode(handlers, context, body, media_type, codec_in)
        prediction = self._predict(handlers, context, data)
        return self._encode(handlers, context, prediction, out_type, codec_out)

    def _decode(
        self,
        handlers: Handlers,
        context: Context | None,
        body: bytes,
        media_type: MediaType | None,
        codec_in: Codec | None,
    ) -> Any:
        if handlers.input_fn is not None:
            return self._call(
                "input_fn",
                handlers.input_fn,
                context,
                self._user_input(body, media_type),
                media_type.essence if media_type else None,
            )
        assert codec_in is not None and media_type is not None
        return codec_in.decode(body, media_type)

    def _predict(self, handlers: Handlers, context: Context | None, data: Any) -> Any:
        if handlers.predict_fn is not None:
            return self._call("predict_fn", handlers.predict_fn, context, data, self._model)
        return self._call("predict", _default_predict, None, data, self._model)

    def _encode(
        self,
        handlers: Handlers,
        context: Context | None,
        prediction: Any,
        out_type: str,
        codec_out: Codec | None,
    ) -> tuple[bytes, str]:
        if handlers.output_fn is not None:
            result = self._call("output_fn", handlers.output_fn, context, prediction, out_type)
            return self._normalise(result, out_type)
        assert codec_out is not None
        return codec_out.encode(prediction), out_type

    def _make_batcher(self, handlers: Handlers, model: Any) -> Batcher | None:
        size = self.settings.max_batch_size
        if size < 2:
            return None
        why_not = None
        if handlers.transform_fn is not None:
            why_not = "transform_fn decodes, predicts and encodes in one call"
        elif handlers.predict_fn is not None and handlers.predict_fn.takes_context:
            why_not = "predict_fn takes context, and a batch holds several requests"
        if why_not:
            log.warning("BYOC_MAX_BATCH_SIZE=%d ignored: %s", size, why_not)
            return None
        predict_fn = handlers.predict_fn
        if predict_fn is not None:
            fn = predict_fn.fn

            def predict(data: Any) -> Any:
                return fn(data, model)
        else:

            def predict(data: Any) -> Any:
                return _default_predict(data, model)

        if size > self.settings.threads:
            log.warning(
                "BYOC_MAX_BATCH_SIZE=%d: a batch holds at most BYOC_THREADS=%d requests",
                size,
                self.settings.threads,
            )
        return Batcher(
            predict,
            max_size=size,
            max_delay=self.settings.max_batch_delay_ms / 1000.0,
            slots=self._slots,
            timeout=self.settings.timeout,
        )

    # -- helpers --------------------------------------------------------------
    def _too_large_message(self, size: int) -> str:
        limit = self.settings.max_payload_bytes
        return (
            f"request body is {size} bytes; the limit is {limit} bytes "
            f"({limit / 1048576:g} MiB, set by SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )

    def check_content_length(self, length: int) -> Response | None:
        """For adapters: refuse an oversized body before reading it."""
        if length > self.settings.max_payload_bytes:
            return error_response(PayloadTooLarge(self._too_large_message(length)))
        return None

    def _media_type(self, content_type: str | None) -> MediaType | None:
        if not content_type:
            return None
        media_type = parse_media_type(content_type)
        if media_type is None:
            raise UnsupportedMediaType(f"Content-Type {content_type!r} is not a media type")
        return media_type

    def _decoder(self, media_type: MediaType | None) -> Codec:
        supported = ", ".join(self.codecs.media_types)
        if media_type is None:
            raise UnsupportedMediaType(f"a Content-Type header is required; supported: {supported}")
        codec = self.codecs.get(media_type.essence)
        if codec is None:
            raise UnsupportedMediaType(
                f"Content-Type {media_type.essence!r} is not supported; supported: {supported} "
                "(or define input_fn in the handler)"
            )
        return codec

    def _negotiate(self, accept: str | None, media_type: MediaType | None) -> str:
        request_type = media_type.essence if media_type else None
        key = (accept, request_type)
        cached = self._negotiated.get(key, "")
        if cached != "":
            if cached is None:
                raise self._not_acceptable(accept)
            return cached
        preferred = self.settings.default_accept or (
            request_type if request_type and request_type in self.codecs else JSON
        )
        if not accept or accept.strip() == "*/*":
            choice: str | None = preferred.lower()
        else:
            offered = (preferred.lower(), *self.codecs.media_types)
            choice = negotiate(parse_accept(accept), offered)
        if len(self._negotiated) < 1024:
            self._negotiated[key] = choice
        if choice is None:
            raise self._not_acceptable(accept)
        return choice

    def _not_acceptable(self, accept: str | None) -> NotAcceptable:
        return NotAcceptable(
            f"cannot produce any of Accept {accept!r}; "
            f"available: {', '.join(self.codecs.media_types)}"
        )

    def _user_accept(self, accept: str | None) -> str:
        """What output_fn/transform_fn receive as ``accept``: one bare media type.

        Missing or ``*/*`` means the default (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
        else application/json, as in the toolkit); otherwise the client's most
        preferred concrete type.
        """
        default = self.settings.default_accept or JSON
        if not accept:
            return default
        for media_range in parse_accept(accept):
            if media_range.q > 0 and "*" not in media_range.essence:
                return media_range.essence
        return default

    def _user_input(self, body: bytes, media_type: MediaType | None) -> str | bytes:
        if media_type is not None and media_type.essence in _TEXT_INPUT:
            return decode_text(body, media_type)
        return body

    def _call(self, stage: str, fn: HandlerFn | Any, context: Context | None, *args: Any) -> Any:
        try:
            if isinstance(fn, HandlerFn):
                return fn(context, *args)
            return fn(*args)
        except ByocError:
            raise
        except (Exception, SystemExit) as exc:  # a handler's sys.exit() must not end the worker
            raise self._classify(stage, exc) from exc

    def _classify(self, stage: str, exc: BaseException) -> ByocError:
        message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
        status = _toolkit_status(exc)
        if status is not None:
            if status >= 500:
                log.error("%s failed (%d): %s", stage, status, message, exc_info=exc)
            return ByocError(message, status=status, code=_code_for(status))
        if type(exc).__name__ == "UnsupportedFormatError":  # sagemaker_inference.errors
            if stage == "output_fn":
                return NotAcceptable(message.strip().splitlines()[0])
            if stage in ("input_fn", "transform_fn"):
                return UnsupportedMediaType(message.strip().splitlines()[0])
        if stage == "input_fn" and isinstance(exc, _INPUT_ERRORS):
            return BadRequest(f"input_fn rejected the request: {type(exc).__name__}: {message}")
        log.error("%s failed: %s: %s", stage, type(exc).__name__, message, exc_info=exc)
        return ModelError(f"{stage} failed: {type(exc).__name__}: {message}")

    def _normalise(self, result: Any, out_type: str) -> tuple[bytes, str]:
        if isinstance(result, tuple) and len(result) == 2:
            result, out_type = result[0], str(result[1])
        if isinstance(result, bytes):
            return result, out_type
        if isinstance(result, str):
            return result.encode("utf-8"), out_type
        if isinstance(result, (bytearray, memoryview)):
            return bytes(result), out_type
        if result is None:
            return b"", out_type
        if isinstance(result, (dict, list)):
            return self.codecs.get(JSON).encode(result), JSON  # type: ignore[union-attr]
        raise ModelError(
            f"the handler returned {type(result).__name__}; return bytes or str "
            "(or a (body, content_type) tuple)"
        )

    def _from_context(self, context: Context, payload: bytes, out_type: str) -> Response:
        processor = context.request_processor[0]
        status = processor.get_response_status_code()
        if not 100 <= status <= 599:
            raise ModelError(f"the handler set an invalid status {status}")
        headers = processor.get_response_headers()
        content_type = out_type
        extra: list[tuple[str, str]] = []
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "content-type":
                content_type = str(value)
            elif lowered not in _RESERVED_HEADERS:
                extra.append((name, str(value)))
        return Response(status, payload, content_type, tuple(extra))


def _predict_stage(handlers: Handlers) -> str:
    return "predict_fn" if handlers.predict_fn is not None else "predict"


def _default_predict(data: Any, model: Any) -> Any:
    predict = getattr(model, "predict", None)
    if callable(predict):
        return predict(data)
    if callable(model):
        return model(data)
    raise ModelError(
        f"the model ({type(model).__name__}) has no predict() and is not callable; "
        "define predict_fn in the handler"
    )


_CODES = {
    400: "bad_request",
    404: "not_found",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "service_unavailable",
}


def _code_for(status: int) -> str:
    return _CODES.get(status, "client_error" if status < 500 else "model_error")
