"""``byoc local serve --models`` / ``byoc local invoke``: a multi-model endpoint, locally.

``store`` is the front end's disk (archives unpacked under hashed names, last use of each),
``api`` the container's ``/models`` calls, ``frontend`` what SageMaker does for an
invocation with a TargetModel (load on demand, unload the least recently used on a 507),
``endpoint`` starts the container and finds it again, ``command`` the click command.
"""

from __future__ import annotations

from .api import ModelsApi, Reply
from .endpoint import MultiModelEndpoint, attach, start_multi_model_endpoint
from .frontend import LoadFailed, invoke
from .store import ModelStore, StoreError, model_name

__all__ = [
    "LoadFailed",
    "ModelStore",
    "ModelsApi",
    "MultiModelEndpoint",
    "Reply",
    "StoreError",
    "attach",
    "invoke",
    "model_name",
    "start_multi_model_endpoint",
]
