"""The pure serving core, kept as the import path of byoc 0.1 (see ``byoc.serving``).

:class:`Service` owns the model of one worker process. ``invoke`` takes the bytes and
headers of a request and returns a :class:`Response`; ``ping`` says whether a
prediction would succeed now. Adapters (WSGI hot path, Flask) only translate.
"""

from __future__ import annotations

from .serving import ModelState, Response, Service, error_response

__all__ = ["ModelState", "Response", "Service", "error_response"]
