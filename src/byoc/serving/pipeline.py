"""The request pipeline of one model, planned once when the model is loaded.

``Pipeline.run`` goes decode (``input_fn`` or a codec) → predict (``predict_fn``,
``model.predict``, or the batcher) → encode (``output_fn`` or a codec), or one
``transform_fn``; user code runs holding a handler slot (first come, first served), and
every exception it raises is classified by ``statuses.classify``.
"""

from __future__ import annotations

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
from .http import Response
from .negotiation import Negotiator
from .results import from_context, normalise
from .statuses import Stage, classify

__all__ = ["Pipeline", "context_for", "default_predict"]

log = logging.getLogger("byoc.serving")
_T = TypeVar("_T")


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
    ) -> Response:
        handlers, plan = self.handlers, self.plan
        codec_in = None if plan.custom_input else self.negotiator.decoder(media_type)
        if plan.custom_output:
            out_type, codec_out = self.negotiator.user_accept(accept), None
        else:
            out_type = self.negotiator.encoding(accept, media_type)
            codec_out = self.negotiator.codecs.get(out_type)
        if handlers.transform_fn is not None:
            result = self._in_slot(
                True, self._call, Stage.TRANSFORM, handlers.transform_fn, context, self.model,
                self.negotiator.user_input(body, media_type),
                media_type.essence if media_type else None, out_type,
            )  # fmt: skip
            payload, out_type, status, headers = normalise(result, out_type)
        elif self.batcher is None:
            # One slot for the three stages: no other request's handler code in between.
            payload, out_type, status, headers = self._in_slot(
                True, self._whole, context, body, media_type, codec_in, out_type, codec_out
            )
        else:
            # Batching: user code holds a slot per stage; the batcher takes one per call.
            data = self._in_slot(
                handlers.input_fn is not None, self._decode, context, body, media_type, codec_in
            )
            try:
                prediction = self.batcher(data)
            except ByocError:
                raise
            except (Exception, SystemExit) as exc:
                raise classify(plan.predict_stage, exc) from exc
            payload, out_type, status, headers = self._in_slot(
                handlers.output_fn is not None, self._encode, context, prediction, out_type,
                codec_out,
            )  # fmt: skip
        if context is None:
            return Response(status, payload, out_type, headers)
        return from_context(context, Response(status, payload, out_type, headers))

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
    ) -> tuple[bytes, str, int, tuple[tuple[str, str], ...]]:
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
    ) -> tuple[bytes, str, int, tuple[tuple[str, str], ...]]:
        if self.handlers.output_fn is not None:
            result = self._call(
                Stage.OUTPUT, self.handlers.output_fn, context, prediction, out_type
            )
            return normalise(result, out_type)
        assert codec_out is not None
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
