"""The llm model objects a process answers requests with, made once per llm plugin.

The first request for a model of plugin P imports llm and P (no other llm plugin) and
calls P's ``register_models`` hook (:mod:`provider_llm.llmhooks`); the models it
registers are kept for the next requests, until a configuration file in llm's user
directory changes (``extra-openai-models.yaml`` edited, say), when P's hook is called
again. llm plugins the index knows as failed are never imported here: no provider lists
their models.
"""

from __future__ import annotations

import threading
from typing import Any

from provider_core.errors import ModelNotSupported, ProviderError, summary

from .index import ModelEntry
from .paths import config_files, user_dir

__all__ = ["get_model", "is_ready"]

_lock = threading.Lock()
#: (llm user directory, plugin) -> (its configuration files then, model id -> Registered)
_made: dict[tuple[str, str], tuple[list[tuple[str, int, int]], dict[str, Any]]] = {}


def _current(plugin: str) -> tuple[tuple[str, str], list[tuple[str, int, int]]]:
    directory = user_dir()
    return (str(directory), plugin), config_files(directory)


def is_ready(plugin: str) -> bool:
    """Whether ``plugin``'s models are made and current (getting one then does no import)."""
    key, files = _current(plugin)
    made = _made.get(key)
    return made is not None and made[0] == files


def get_model(entry: ModelEntry, provider: str) -> Any:
    """The :class:`~provider_llm.llmhooks.Registered` llm model (sync and async objects) of
    ``entry``. Raises :class:`~provider_core.errors.ProviderError` when its plugin cannot
    be loaded now, :class:`~provider_core.errors.ModelNotSupported` when the plugin no
    longer registers that model."""
    key, files = _current(entry.plugin)
    with _lock:
        made = _made.get(key)
        if made is None or made[0] != files:
            made = (files, _make(entry.plugin, provider))
            _made[key] = made
    found = made[1].get(entry.id)
    if found is None:
        raise ModelNotSupported(
            entry.id,
            provider=provider,
            reason=f"{provider}: the llm plugin {entry.plugin!r} no longer registers model {entry.id!r}",
        )
    return found


def _make(plugin: str, provider: str) -> dict[str, Any]:
    from .llmhooks import load_plugin, registered_models

    try:
        registered = registered_models(load_plugin(plugin), plugin)
    except Exception as exc:
        raise ProviderError(
            f"{provider}: the llm plugin {plugin!r} failed to load: {summary(exc)}", provider=provider
        ) from exc
    models: dict[str, Any] = {}
    for item in registered:
        model_id = getattr(item.primary, "model_id", None)
        if isinstance(model_id, str):
            models[model_id] = item
    return models
