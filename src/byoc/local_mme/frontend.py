"""What SageMaker's front end does for ``InvokeEndpoint`` with a ``TargetModel``.

Name the model by its path, unpack it if it is not on disk, load it if ``GET /models/NAME``
says 404; on a 507 unload the least recently used loaded model and retry (at most
``MAX_UNLOADS`` times), then ``POST /models/NAME/invoke`` with the target path in
``X-Amzn-SageMaker-Target-Model``. The disk and the load happen under the store's lock;
the invocation does not, so invocations run concurrently. A model unloaded by someone else
between the two is loaded again, once.
"""

from __future__ import annotations

from collections.abc import Callable

from .api import ApiError, ModelsApi, Reply
from .store import ModelStore, State, normalise_target

__all__ = ["LoadFailed", "invoke"]

MAX_UNLOADS = 16
Say = Callable[[str], None]


class LoadFailed(RuntimeError):
    """The container would not load the model; ``reply`` is its last answer."""

    def __init__(self, message: str, reply: Reply) -> None:
        super().__init__(message)
        self.reply = reply


def invoke(
    store: ModelStore,
    api: ModelsApi,
    target: str,
    body: bytes,
    content_type: str,
    accept: str | None = None,
    say: Say = lambda message: None,
) -> Reply:
    """One invocation of ``target`` (``a/b/m1.tar.gz``); the container's answer."""
    target = normalise_target(target)
    for _ in range(2):
        with store.locked() as state:
            name = store.unpack(state, target)
            state.touch(name, target)
            _ensure_loaded(store, state, api, name, target, say)
        reply = api.invoke(name, body, content_type, accept, target)
        if reply.status != 404 or api.loaded(name):
            return reply
        say(f"{target} was unloaded before it was invoked: loading it again")
    return reply


def _ensure_loaded(
    store: ModelStore, state: State, api: ModelsApi, name: str, target: str, say: Say
) -> None:
    if api.loaded(name):
        return
    for _ in range(MAX_UNLOADS + 1):
        reply = api.load(name, store.container_url(name))
        if reply.status in (200, 409):  # 409: another client loaded it meanwhile
            say(f"loaded {target} as {name}")
            return
        if reply.status != 507:
            raise LoadFailed(f"loading {target} failed: POST /models answered "
                             f"{reply.status}: {reply.message()}", reply)  # fmt: skip
        victim = state.least_recently_used(api.names(), keep=name)
        if victim is None:
            raise LoadFailed(
                f"loading {target} failed: 507 with no other model loaded: {reply.message()}",
                reply,
            )
        unloaded = api.unload(victim)
        if unloaded.status not in (200, 404):  # 404: it went meanwhile, which is as good
            raise ApiError(f"DELETE /models/{victim}", unloaded)
        say(
            f"507 from the container ({reply.message()}): unloaded {victim} "
            f"({state.target_of(victim)}), the least recently used"
        )
        state.models.pop(victim, None)
    raise LoadFailed(f"loading {target} failed: still 507 after {MAX_UNLOADS} unloads", reply)
