"""provider-core-llm: the models of every installed plugin of llm (simonw's) as
provider-core providers.

The hooks, run by the registry when it loads (and, for the aliases, at the first routing
question about a name that is no model id):

``register_aliases``
    llm's model aliases (from the same index), as provider-core aliases.

``register_providers``
    Reads the model index (:mod:`provider_llm.rebuild`: stored in the user cache
    directory, rebuilt in a child process when llm, an llm plugin or llm's configuration
    changed) and llm's key store, and registers one provider per llm plugin that
    registers models (:mod:`provider_llm.providers`). llm is not imported here: only a
    request imports it (:mod:`provider_llm.runtime`).

An llm plugin that failed to load is left out; its error (like llm itself unusable, or a
key store that cannot be read) is a warning of this plugin, reported through the hook's
``warn`` argument (``provider-core plugins``: ``llm  loaded (2 warnings)``, the texts
below the table and in ``--json``). It stays in the index, so every later run warns too
until it is fixed: :func:`plugin_warnings`. On a provider-core whose hook has no ``warn``
(older than the model catalog) each is a Python warning instead, :class:`LlmPluginWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

from provider_core import hookimpl, hookspecs

__version__ = "0.1.0"
__all__ = ["LlmPluginWarning", "__version__", "load_providers", "model_aliases", "plugin_warnings"]


class LlmPluginWarning(UserWarning):
    """An llm plugin (or llm itself, or its configuration) could not be used; the other
    llm plugins' models are still registered."""


def load_providers(environ: Mapping[str, str] | None = None) -> tuple[list[type], list[str]]:
    """The provider classes and the warnings (one line each) for this interpreter and
    llm user directory; reads the index, rebuilding it if it is stale."""
    from .keys import read_key_store
    from .paths import user_dir
    from .providers import make_providers
    from .rebuild import load_index

    index = load_index(environ)
    keys = read_key_store(user_dir(environ), environ)
    problems = index.warnings() + ([keys.problem] if keys.problem else [])
    return make_providers(index, keys), problems


def plugin_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """The warnings of the bridge, one line each: llm plugins that failed to load (and
    why), llm itself unusable, configuration files llm could not read: what
    ``provider-core plugins`` shows under this plugin."""
    return load_providers(environ)[1]


def model_aliases(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """llm's model aliases as ``{alias: model id}`` (see :func:`provider_llm.aliases.aliases_from_index`)."""
    from .aliases import aliases_from_index
    from .rebuild import load_index

    return aliases_from_index(load_index(environ))


def _register(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
    """Register the llm plugins' providers; ``warn`` each problem of the bridge."""
    classes, problems = load_providers()
    for cls in classes:
        register(cls)
    for text in problems:
        warn(text)


def _python_warning(text: str) -> None:
    warnings.warn(text, LlmPluginWarning, stacklevel=4)


def _core_passes_warn() -> bool:
    """Whether this provider-core's ``register_providers`` hook has the ``warn`` argument
    (pluggy refuses an implementation naming an argument its specification lacks)."""
    code = hookspecs.register_providers.__code__
    return "warn" in code.co_varnames[: code.co_argcount]


if _core_passes_warn():

    @hookimpl
    def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
        """Register the llm plugins' providers; each problem is a warning of this plugin."""
        _register(register, warn)

else:  # an older provider-core (tests/test_providers.py simulates one in a subprocess)

    @hookimpl
    def register_providers(register: Callable[[type], type]) -> None:  # type: ignore[misc]
        """Register the llm plugins' providers; each problem is an :class:`LlmPluginWarning`."""
        _register(register, _python_warning)


@hookimpl
def register_aliases(register: Callable[[str, str | list[str]], None]) -> None:
    """llm's model aliases (``4o`` -> ``gpt-4o``, ...) as provider-core aliases: each names
    the model id, so every provider serving it is a candidate (the bridge's own come last,
    at priority -1). An alias in the user's config file replaces one of these."""
    for alias, model in model_aliases().items():
        register(alias, model)
