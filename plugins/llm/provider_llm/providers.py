"""The provider classes: one per llm plugin that registers models, made from the index.

Naming: ``llm-default`` for llm's built-in models (OpenAI and ``extra-openai-models.yaml``),
``llm-NAME`` for the llm plugin whose entry point is ``NAME``. A provider cannot be half
working, so the models whose key is missing are split off:

* ``llm-NAME`` lists the models that can be called now (no key needed, or their key is
  in llm's key store or environment variable) and is working;
* ``llm-NAME-needs-key`` lists the others, is not working, and its ``status_reason`` says
  which key is missing and how to set it; routing skips it with that reason;
* when no model of the plugin can be called, ``llm-NAME`` itself is the not-working one,
  listing them all (no ``-needs-key`` provider then).

Capability flags are those of the models listed: a flag is true when at least one model
has it (streaming: llm's ``can_stream``; tools: ``supports_tools``; vision: an ``image/*``
attachment type; JSON: ``supports_schema``). A request needing what its model lacks is
refused before anything is sent (:mod:`provider_llm.request`), so routing falls back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from provider_core.provider import AbstractProvider, CreateResult, Messages

from .discovery import DEFAULT_PLUGIN
from .index import Index, ModelEntry
from .keys import KeyStore, missing_key_text

__all__ = ["NEEDS_KEY_SUFFIX", "PREFIX", "LlmProvider", "make_providers", "provider_name"]

PREFIX = "llm-"
NEEDS_KEY_SUFFIX = "-needs-key"
#: Routing order among providers of one model: native plugins (priority 0) come first.
PRIORITY = -1
#: Sets of classes remembered (see :func:`make_providers`).
MEMORY = 8
_NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_made: dict[tuple[Any, ...], list[type]] = {}


class LlmProvider(AbstractProvider):
    """A provider serving models of one llm plugin. Not registered itself:
    :func:`make_providers` derives one subclass per group of models."""

    #: the llm plugin (entry-point name, or ``"default"``)
    llm_plugin: ClassVar[str] = ""
    #: model id -> its index entry
    llm_models: ClassVar[Mapping[str, ModelEntry]] = MappingProxyType({})
    supports_message_history = True
    priority = PRIORITY

    @classmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> CreateResult:
        """Ask the llm model ``model`` through llm's Python API (see :mod:`provider_llm.runtime`).
        Yields text, and the events of :mod:`provider_core.events` (tool calls, usage, the
        finish reason). Keywords: ``api_key`` (a key, or the alias of a stored one, for this
        call), ``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``, ``tools``,
        ``response_format``, ``llm_options`` (a dict of the model's own llm options),
        ``base_url`` (OpenAI-compatible llm models only); others are ignored."""
        from .runtime import complete

        return complete(cls, model, messages, stream, kwargs)


def _native_async(cls: type[LlmProvider], model: str, messages: Messages, stream: bool, **kwargs: Any) -> Any:
    """``acreate_completion``: the async twin, through llm's async models (see :mod:`provider_llm.aio`)."""
    from .aio import acomplete

    return acomplete(cls, model, messages, stream, kwargs)


def provider_name(plugin: str) -> str:
    """``llm-`` and the plugin's name, with anything but letters, digits, ``.``, ``_`` and
    ``-`` replaced by ``-`` (a provider name has no spaces)."""
    return PREFIX + "".join(ch if ch in _NAME_CHARACTERS else "-" for ch in plugin)


def _class_name(name: str) -> str:
    return "Llm_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def _missing_reason(entries: list[ModelEntry]) -> str:
    by_key: dict[str, list[str]] = {}
    for entry in entries:
        by_key.setdefault(missing_key_text(entry), []).append(entry.id)
    parts = []
    for text, ids in by_key.items():
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        parts.append(f"{text} for {shown}")
    return "; ".join(parts)


def _make(name: str, plugin: str, entries: list[ModelEntry], working: bool, reason: str | None, index: Index) -> type:
    ids = [e.id for e in entries]
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"The models of the llm plugin {plugin!r}, through llm.",
        "name": name,
        "url": "",
        "working": working,
        "status_reason": reason,
        "supports_stream": any(e.can_stream for e in entries),
        "supports_tools": any(e.tools for e in entries),
        "supports_vision": any(e.vision for e in entries),
        "supports_json": any(e.schema for e in entries),
        "supports_gpt_4": any(m.startswith("gpt-4") for m in ids),
        "supports_gpt_35_turbo": any(m.startswith("gpt-3.5") for m in ids),
        "needs_auth": any(e.needs_key_now for e in entries),
        "models": MappingProxyType({e.id: e.name or e.id for e in entries}),
        "default_model": index.default_model if index.default_model in ids else None,
        "llm_plugin": plugin,
        "llm_models": MappingProxyType({e.id: e for e in entries}),
    }
    if any(e.has_async for e in entries):
        attrs["acreate_completion"] = classmethod(_native_async)
    return type(_class_name(name), (LlmProvider,), attrs)


def _by_plugin(index: Index) -> Iterator[tuple[str, list[ModelEntry]]]:
    groups: dict[str, list[ModelEntry]] = {}
    for entry in index.models:
        groups.setdefault(entry.plugin, []).append(entry)
    order = [DEFAULT_PLUGIN, *sorted(p for p in groups if p != DEFAULT_PLUGIN)]
    for plugin in order:
        if plugin in groups:
            yield plugin, groups[plugin]


def make_providers(index: Index, keys: KeyStore) -> list[type]:
    """The provider classes for ``index``, working or not as ``keys`` says (see the module
    documentation). A plugin that registered no model gets no provider. The same index and
    keys give the very same classes again (``provider-core check`` runs the hook twice)."""
    usable = frozenset((e.plugin, e.id) for e in index.models if keys.usable(e))
    signature = (index.models, index.default_model, usable)  # all that _classes reads
    made = _made.get(signature)
    if made is None:
        made = _made[signature] = _classes(index, keys)
        while len(_made) > MEMORY:
            del _made[next(iter(_made))]
    return list(made)


def _classes(index: Index, keys: KeyStore) -> list[type]:
    classes: list[type] = []
    for plugin, entries in _by_plugin(index):
        name = provider_name(plugin)
        usable = [e for e in entries if keys.usable(e)]
        missing = [e for e in entries if not keys.usable(e)]
        if not usable:
            classes.append(_make(name, plugin, entries, False, _missing_reason(missing), index))
            continue
        classes.append(_make(name, plugin, usable, True, None, index))
        if missing:
            classes.append(_make(name + NEEDS_KEY_SUFFIX, plugin, missing, False, _missing_reason(missing), index))
    return classes
