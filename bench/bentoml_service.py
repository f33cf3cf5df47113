"""BentoML 1.4 peer: its documented scikit-learn service, with and without adaptive batching.

Runs in BentoML's own virtualenv (bench/setup_bentoml.sh), never in the project's.
``bench/run.py`` starts it as::

    bentoml serve bentoml_service:Iris      --host 127.0.0.1 --port PORT   # "bentoml"
    bentoml serve bentoml_service:IrisBatch --host 127.0.0.1 --port PORT   # "bentoml-batch"

with ``BENCH_MODEL_DIR`` (the directory holding the same ``model.joblib`` the other stacks
serve) and ``BENCH_BENTOML_WORKERS`` (BentoML's ``workers`` setting) in the environment.

The service is the one BentoML documents for scikit-learn (a class decorated with
``@bentoml.service`` that loads the estimator in ``__init__``, one ``@bentoml.api`` method
``(self, input: np.ndarray) -> np.ndarray`` returning ``model.predict``), with two choices
made so it takes the very request the other stacks take:

* the API is named ``invocations``, so its route is ``POST /invocations``;
* its input spec is the one BentoML derives from that signature (a root ``np.ndarray``),
  with one method overridden, ``from_http_request``, so the ``text/csv`` body is read into
  a 2-D float array by ``numpy.loadtxt`` (numpy's C reader) instead of being parsed as
  JSON. BentoML 1.4's new SDK has no CSV input type: every body goes through its JSON
  serde, unless the input is a root ``str`` (which takes the raw body), and a ``str``
  cannot be batched. The output is BentoML's own: the ndarray as a JSON array.

``IrisBatch`` is the same service with ``@bentoml.api(batchable=True, ...)``: BentoML's
adaptive batching concatenates the arrays of concurrent requests along axis 0, calls
``predict`` once, and splits the result. See bench/README.md for the values chosen.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import numpy as np
from _bentoml_sdk.io_models import IODescriptor

WORKERS = int(os.environ.get("BENCH_BENTOML_WORKERS", "1"))
MODEL_DIR = os.environ.get("BENCH_MODEL_DIR", "model")
# Adaptive batching. BentoML counts max_batch_size along the batch dimension, i.e. in rows,
# not requests: 800 rows = 8 requests of the 100-row payload, byoc-batch's 8 requests.
# (With the default, 100, a 100-row request fills a batch alone.) max_latency_ms bounds a
# request's queueing + predict time; the dispatcher answers 503 when it expects to miss
# it. 1 s is far above any latency measured here. BentoML's default, 60 s, also seeds its
# optimizer's first cost estimate (2 s per request + 1 s, against 67 + 33 ms for 1 s) and
# was several times slower in a smoke run.
MAX_BATCH_SIZE = 800
MAX_LATENCY_MS = 1000


def _predict_signature(self: Any, rows: np.ndarray, /) -> np.ndarray:  # pragma: no cover
    raise NotImplementedError


class CSVRows(IODescriptor.from_input(_predict_signature, skip_self=True)):  # type: ignore[misc]
    """BentoML's input spec for a root ``np.ndarray``, reading a ``text/csv`` body."""

    @classmethod
    async def from_http_request(cls, request: Any, serde: Any) -> IODescriptor:
        body = await request.body()
        rows = np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
        return cls(rows)


def _load() -> Any:
    return joblib.load(os.path.join(MODEL_DIR, "model.joblib"))


@bentoml.service(workers=WORKERS)
class Iris:
    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api(input_spec=CSVRows)
    def invocations(self, rows: np.ndarray, /) -> np.ndarray:
        return self.model.predict(rows)


@bentoml.service(workers=WORKERS)
class IrisBatch:
    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api(
        input_spec=CSVRows,
        batchable=True,
        max_batch_size=MAX_BATCH_SIZE,
        max_latency_ms=MAX_LATENCY_MS,
    )
    def invocations(self, rows: np.ndarray, /) -> np.ndarray:
        return self.model.predict(rows)
