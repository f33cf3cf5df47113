"""The request pipeline of one model, planned once when the model is loaded.

``Pipeline.run`` goes decode (``input_fn`` or a codec) → predict (``predict_fn``,
``model.predict``, or the batcher) → encode (``output_fn`` or a codec), or one
``transform_fn``; user code runs holding a handler slot (first come, first served), and
every exception it raises is classified by ``statuses.classify``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..batching import Batcher
from ..codecs import Codec
from ..context import Context, RequestHeaders
from ..errors import ByocError, ModelError, ServiceUnavailable
from ..fairness import FairSemaphore
from ..handler import HandlerFn, Handlers
from ..media import MediaType
from ..settings import Settings
from .http import AnyResponse, Response, StreamingResponse
from .negotiation import Negotiator
from .results import from_context, normalise
from .statuses import Stage, classify
from .streaming import Stream, StreamResult, is_stream, start_stream, to_bytes

__all__ = ["Pipeline", "context_for", "default_predict"]

log = logging.getLogger("byoc.serving")
_T = TypeVar("_T")
Encoded = tuple[bytes, str, int, tuple[tuple[str, str], ...]]
Outcome = Encoded | StreamResult


def default_predict(data: Any, model: Any) -> Any:
    predict = getattr(model, "predict", None)
    if callable(predict):
        return predict(data)
    if callable(model):
        return model(data)
    raise ModelError(
        f"the model ({type(model).__name__}) has no predict() and is not callable; "
        "define predict_fn in the handler"
    )


@dataclass(frozen=True)
class _Plan:
    """What a request of this model does, decided at load time."""

    custom_input: bool  # input_fn or transform_fn decodes
    custom_output: bool  # output_fn or transform_fn encodes
    predict_stage: Stage


class Pipeline:
    def __init__(
        self,
        handlers: Handlers,
        model: Any,
        negotiator: Negotiator,
        slots: FairSemaphore,
        settings: Settings,
    ) -> None:
        self.handlers = handlers
        self.model = model
        self.negotiator = negotiator
        self.slots = slots
        self.timeout = settings.timeout
        self.plan = _Plan(
            custom_input=handlers.input_fn is not None or handlers.transform_fn is not None,
            custom_output=handlers.output_fn is not None or handlers.transform_fn is not None,
            predict_stage=Stage.PREDICT_FN if handlers.predict_fn is not None else Stage.PREDICT,
        )
        self.batcher = self._make_batcher(settings)

    # -- a request --------------------------------------------------------------
    def run(
        self,
        body: bytes,
        media_type: MediaType | None,
        accept: str | None,
        context: Context | None,
    ) -> AnyResponse:
        handlers, plan = self.handlers, self.plan
        codec_in = None if plan.custom_input else self.negotiator.decoder(media_type)
        if plan.custom_output:
            out_type, codec_out = self.negotiator.user_accept(accept), None
        else:
            out_type = self.negotiator.encoding(accept, media_type)
            codec_out = self.negotiator.codecs.get(out_type)
        if self.batcher is not None:
            outcome = self._batched(context, body, media_type, codec_in, out_type, codec_out)
            if isinstance(outcome, StreamResult):
                shaped = self._shape(outcome, context)
                return self._streaming(start_stream(outcome, lambda: None), shaped)
            return self._respond(outcome, context)
        # One slot for the stages (no other request's handler code in between), held by a
        # stream until it ends.
        if not self.slots.acquire(timeout=self.timeout):
            raise ServiceUnavailable.busy()
        release: Callable[[], None] | None = self.slots.release
        try:
            if handlers.transform_fn is not None:
                result = self._call(
                    Stage.TRANSFORM, handlers.transform_fn, context, self.model,
                    self.negotiator.user_input(body, media_type),
                    media_type.essence if media_type else None, out_type,
                )  # fmt: skip
                outcome = self._result(result, out_type, Stage.TRANSFORM, to_bytes)
            else:
                outcome = self._whole(context, body, media_type, codec_in, out_type, codec_out)
            if isinstance(outcome, StreamResult):
                shaped = self._shape(outcome, context)  # may raise: the slot is still ours
                held, release = release, None  # start_stream releases it, now or at the end
                assert held is not None
                return self._streaming(start_stream(outcome, held), shaped)
        finally:
            if release is not None:
                release()
        return self._respond(outcome, context)

    def _batched(
        self,
        context: Context | None,
        body: bytes,
        media_type: MediaType | None,
        codec_in: Codec | None,
        out_type: str,
        codec_out: Codec | None,
    ) -> Outcome:
        """Batching: user code holds a slot per stage; the batcher takes one per call."""
        assert self.batcher is not None
        data = self._in_slot(
            self.handlers.input_fn is not None, self._decode, context, body, media_type, codec_in
        )
        try:
            prediction = self.batcher(data)
        except ByocError:
            raise
        except (Exception, SystemExit) as exc:
            raise classify(self.plan.predict_stage, exc) from exc
        return self._in_slot(
            self.handlers.output_fn is not None, self._encode, context, prediction, out_type,
            codec_out,
        )  # fmt: skip

    @staticmethod
    def _respond(outcome: Encoded, context: Context | None) -> Response:
        payload, out_type, status, headers = outcome
        response = Response(status, payload, out_type, headers)
        return response if context is None else from_context(context, response)

    @staticmethod
    def _shape(result: StreamResult, context: Context | None) -> Response:
        """Status and headers of a stream (what the handler set through ``context``)."""
        shaped = Response(200, b"", result.content_type)
        return shaped if context is None else from_context(context, shaped)

    @staticmethod
    def _streaming(stream: Stream, shaped: Response) -> AnyResponse:
        return StreamingResponse(shaped.status, stream, shaped.content_type, shaped.headers)

    @staticmethod
    def _result(result: Any, out_type: str, stage: Stage, encode: Any) -> Outcome:
        if is_stream(result):
            return StreamResult(result, encode, stage, out_type)
        return normalise(result, out_type)

    def _in_slot(self, needed: bool, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)``, holding a handler slot if ``needed`` (handler code runs)."""
        if not needed:
            return fn(*args)
        if not self.slots.acquire(timeout=self.timeout):
            raise ServiceUnavailable.busy()
        try:
            return fn(*args)
        finally:
            self.slots.release()

    def _whole(
        self,
        context: Context | None,
        body: bytes,
        media_type: MediaType | None,
        codec_in: Codec | None,
        out_type: str,
        codec_out: Codec | None,
    ) -> Outcome:
        data = self._decode(context, body, media_type, codec_in)
        prediction = self._predict(context, data)
        return self._encode(context, prediction, out_type, codec_out)

    def _decode(
        self,
        context: Context | None,
        body: bytes,
        media_type: MediaType | None,
        codec_in: Codec | None,
    ) -> Any:
        if self.handlers.input_fn is not None:
            return self._call(
                Stage.INPUT, self.handlers.input_fn, context,
                self.negotiator.user_input(body, media_type),
                media_type.essence if media_type else None,
            )  # fmt: skip
        assert codec_in is not None and media_type is not None
        return codec_in.decode(body, media_type)

    def _predict(self, context: Context | None, data: Any) -> Any:
        if self.handlers.predict_fn is not None:
            return self._call(Stage.PREDICT_FN, self.handlers.predict_fn, context, data, self.model)
        return self._call(Stage.PREDICT, default_predict, None, data, self.model)

    def _encode(
        self, context: Context | None, prediction: Any, out_type: str, codec_out: Codec | None
    ) -> Outcome:
        if self.handlers.output_fn is not None:
            result = self._call(
                Stage.OUTPUT, self.handlers.output_fn, context, prediction, out_type
            )
            return self._result(result, out_type, Stage.OUTPUT, to_bytes)
        assert codec_out is not None
        if is_stream(prediction):  # predict_fn yields: each item is a chunk, in out_type
            encode = codec_out.encode

            def chunk(item: Any) -> bytes:
                return to_bytes(item) if isinstance(item, (bytes, str)) else encode(item)

            return StreamResult(prediction, chunk, self.plan.predict_stage, out_type)
        return codec_out.encode(prediction), out_type, 200, ()

    @staticmethod
    def _call(stage: Stage, fn: HandlerFn | Any, context: Context | None, *args: Any) -> Any:
        try:
            if isinstance(fn, HandlerFn):
                return fn(context, *args)
            return fn(*args)
        except ByocError:
            raise
        except (Exception, SystemExit) as exc:  # a handler's sys.exit() must not end the worker
            raise classify(stage, exc) from exc

    # -- batching -----------------------------------------------------------------
    def _make_batcher(self, settings: Settings) -> Batcher | None:
        size = settings.max_batch_size
        if size < 2:
            return None
        handlers, model = self.handlers, self.model
        why_not = None
        if handlers.transform_fn is not None:
            why_not = "transform_fn decodes, predicts and encodes in one call"
        elif any(
            fn is not None and inspect.isgeneratorfunction(fn.fn)
            for fn in (handlers.predict_fn, handlers.output_fn)
        ):
            why_not = "the handler streams (a generator), and a stream answers one request"
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
                return default_predict(data, model)

        if size > settings.threads:
            log.warning(
                "BYOC_MAX_BATCH_SIZE=%d: a batch holds at most BYOC_THREADS=%d requests",
                size,
                settings.threads,
            )
        return Batcher(
            predict,
            max_size=size,
            max_delay=settings.max_batch_delay_ms / 1000.0,
            slots=self.slots,
            timeout=settings.timeout,
        )


def context_for(
    handlers: Handlers, model_dir: str, attributes: RequestHeaders, inference_id: str
) -> Context | None:
    return Context(model_dir, attributes, inference_id) if handlers.needs_context else None
