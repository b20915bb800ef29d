"""The index builder: runs in a child process, imports llm and each llm plugin, and
writes what they register (see :mod:`provider_llm.rebuild`, which starts it).

Its protocol, one JSON object per line on its standard output (anything a plugin prints
goes to standard error instead): ``{"loading": NAME}`` before it imports or calls plugin
``NAME`` (``"llm"`` before llm itself), then ``{"index": {...}}`` at the end. A child that
dies without the last line was killed by the plugin it named last; the parent leaves that
plugin out and starts another child. Python exceptions never end the child: a plugin
whose import or ``register_models`` hook raises is recorded as failed, with the error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from provider_core.errors import summary
from provider_core.secrets import redact_secrets, remember

from .discovery import DEFAULT_PLUGIN, index_key, llm_plugins, llm_version
from .index import Index, ModelEntry, PluginEntry
from .paths import user_dir

__all__ = ["collect", "describe_model", "main"]

#: The longest error text kept for one plugin.
ERROR_CHARS = 500


def _attr(obj: Any, name: str, default: Any) -> Any:
    try:
        return getattr(obj, name, default)
    except Exception:  # a property of a plugin's model that raises
        return default


def describe_model(item: Any, plugin: str, extra_aliases: list[str]) -> ModelEntry | None:
    """The index entry for one registration (:class:`provider_llm.llmhooks.Registered`),
    or ``None`` when its model id is not a usable id (empty, not printable)."""
    model = item.primary
    model_id = _attr(model, "model_id", None)
    if not isinstance(model_id, str) or not model_id or not model_id.isprintable():
        return None
    try:
        name = str(model)
    except Exception:
        name = model_id
    needs_key = _attr(model, "needs_key", None)
    env_var = _attr(model, "key_env_var", None)
    types = _attr(model, "attachment_types", ()) or ()
    return ModelEntry(
        id=model_id,
        plugin=plugin,
        name=name if name.isprintable() else model_id,
        aliases=tuple(dict.fromkeys([*item.aliases, *extra_aliases])),
        can_stream=bool(_attr(model, "can_stream", False)),
        tools=bool(_attr(model, "supports_tools", False)),
        schema=bool(_attr(model, "supports_schema", False)),
        attachment_types=tuple(sorted(str(t) for t in types)),
        needs_key=needs_key if isinstance(needs_key, str) and needs_key else None,
        key_env_var=env_var if isinstance(env_var, str) and env_var else None,
        key_preset=_attr(model, "key", None) is not None,
        has_sync=item.model is not None,
        has_async=item.async_model is not None,
        conversation=bool(_attr(model, "supports_conversation", True)),
    )


def _configured_aliases(directory: Any, notes: list[str]) -> dict[str, list[str]]:
    """``aliases.json`` of llm's user directory, as model id -> aliases (llm adds them to
    each model it registers)."""
    path = os.path.join(directory, "aliases.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        notes.append(f"{path}: ignored: {summary(exc, ERROR_CHARS)}")
        return {}
    by_model: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for alias, model_id in data.items():
            if isinstance(alias, str) and isinstance(model_id, str):
                by_model.setdefault(model_id, []).append(alias)
    return by_model


def _default_model(models: list[ModelEntry]) -> str | None:
    """llm's default model (``default_model.txt`` or llm's own default), as a model id."""
    import llm

    try:
        name = llm.get_default_model()
    except Exception:
        return None
    ids = {m.id for m in models}
    for entry in models:
        if name in entry.aliases and name not in ids:
            return entry.id
    return name if name in ids else None


def collect(
    exclude: Mapping[str, str], progress: Callable[[str], None], environ: Mapping[str, str] | None = None
) -> Index:
    """Import llm and each llm plugin (except those in ``exclude``, name -> why) and index
    what they register. ``progress(name)`` is called before each plugin is touched."""
    from provider_core.isolation import InterruptWatch

    from .llmhooks import load_plugin, registered_models

    env = os.environ if environ is None else environ
    directory = user_dir(env)
    notes: list[str] = []
    aliases = _configured_aliases(directory, notes)
    sources = [PluginEntry(DEFAULT_PLUGIN, "llm", llm_version())]
    sources += [PluginEntry(p.name, p.distribution, p.version) for p in llm_plugins(env)]
    plugins: list[PluginEntry] = []
    models: dict[tuple[str, str], ModelEntry] = {}
    with InterruptWatch() as interrupts:
        for source in sources:
            if source.name in exclude:
                plugins.append(PluginEntry(source.name, source.distribution, source.version, exclude[source.name]))
                continue
            progress(source.name)
            try:
                module = load_plugin(source.name, env)
            except BaseException as exc:
                if interrupts.by_user(exc):
                    raise
                plugins.append(_failed(source, "import failed: ", exc))
                continue
            try:
                registered = registered_models(module, source.name)
            except BaseException as exc:
                if interrupts.by_user(exc):
                    raise
                plugins.append(_failed(source, "register_models raised ", exc))
                continue
            for item in registered:
                model_id = _attr(item.primary, "model_id", None)
                entry = describe_model(
                    item, source.name, aliases.get(model_id, []) if isinstance(model_id, str) else []
                )
                if entry is None:
                    notes.append(f"llm plugin {source.name!r}: the model id {model_id!r} is not usable; left out")
                    continue
                models[(source.name, entry.id)] = entry
            plugins.append(source)
    listed = list(models.values())
    return Index(index_key(directory, env), tuple(plugins), tuple(listed), _default_model(listed), None, tuple(notes))


def _failed(source: PluginEntry, what: str, exc: BaseException) -> PluginEntry:
    return PluginEntry(source.name, source.distribution, source.version, f"{what}{summary(exc, ERROR_CHARS)}")


def _redacted(index: Index, environ: Mapping[str, str]) -> dict[str, Any]:
    """The index as JSON data, every error text passed once more through the redaction
    step now that the models' key variables are known (a plugin may quote its key)."""
    remember(*(environ.get(m.key_env_var or "") for m in index.models))
    data = index.to_dict()
    for plugin in data["plugins"]:
        if plugin["error"]:
            plugin["error"] = redact_secrets(plugin["error"])
    data["notes"] = [redact_secrets(n) for n in data["notes"]]
    return data


def main(request: Mapping[str, Any]) -> None:
    """The child's entry point: ``request`` is ``{"exclude": {name: why}}``."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever a plugin prints must not mix with the protocol
    sys.stdout = sys.stderr

    def emit(obj: Any) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    from .keys import read_key_store

    directory = user_dir()
    existed = os.path.isdir(directory)
    read_key_store(directory)  # every stored key is now redacted from the error texts
    emit({"loading": "llm"})
    try:
        import llm  # noqa: F401
    except BaseException as exc:
        emit({"index": Index(index_key(directory), error=f"import failed: {summary(exc, ERROR_CHARS)}").to_dict()})
        return
    index = collect(dict(request.get("exclude") or {}), lambda name: emit({"loading": name}))
    if not existed:  # llm's hooks create its directory; listing models leaves no trace
        try:
            os.rmdir(directory)
        except OSError:
            pass  # not empty (or gone): not ours to remove
    emit({"index": _redacted(index, os.environ)})
