"""Serving: one module per contract rule.

``http`` (Response, the JSON error body), ``statuses`` (exception → status and code),
``negotiation`` (Content-Type and Accept), ``results`` (what handlers return),
``pipeline`` (decode → predict → encode, planned at load time), ``runtime`` (one model:
load, health, invoke), ``registry`` (which model a request goes to: one, or the
multi-model ``multimodel`` with its ``manifest``, ``worker_models``, ``memory`` and
``models_api``), ``streaming``, ``batch`` (``/execution-parameters``), ``service`` (a
worker's service: settings, registry, access log).
"""

from __future__ import annotations

from .http import Response, error_response
from .runtime import ModelRuntime, ModelState
from .service import Service

__all__ = ["ModelRuntime", "ModelState", "Response", "Service", "error_response"]
