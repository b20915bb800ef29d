"""provider-core-openai: every endpoint that speaks the OpenAI chat-completions protocol
(OpenAI, OpenRouter, vLLM, llama.cpp's server, Ollama, LM Studio, our own gateway) as a
provider of its own.

The hooks, run by the registry when it loads:

``register_providers``
    Reads the configuration (:mod:`provider_openai.config`: the TOML file and the
    ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` zero-config path), finds each endpoint's
    models (:mod:`provider_openai.models`: from the file, the cache, or one bounded
    ``GET /models``), and registers one provider per endpoint. An endpoint whose model list
    cannot be fetched is still registered, not working, with the reason. Problems in the
    file leave out the endpoint concerned and are then raised as one
    :class:`OpenAIConfigError`, which ``provider-core plugins`` shows as this plugin's error.

With no configuration file and neither variable set the plugin registers nothing, and
imports neither pydantic nor requests.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provider_core import hookimpl
from provider_core.errors import ProviderError

from .paths import has_configuration
from .provider import OpenAIEndpoint

__version__ = "0.1.0"
__all__ = ["OpenAIConfigError", "OpenAIEndpoint", "__version__", "load_providers"]


class OpenAIConfigError(ProviderError):
    """The configuration has problems; ``problems`` lists them, one line each, as
    ``FILE: KEY: what is wrong``. The endpoints without problems were still registered."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = f"{len(problems)} configuration problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"{count}: " + "; ".join(problems))


def load_providers(environ: dict[str, str] | None = None) -> tuple[list[type[OpenAIEndpoint]], list[str]]:
    """Build the provider classes from the configuration: ``(classes, problems)``.

    Does the bounded model-list fetch described in :mod:`provider_openai.models`.
    """
    env = dict(os.environ) if environ is None else environ
    if not has_configuration(env):
        return [], []
    from .config import load_config
    from .models import ModelCache, resolve_models
    from .paths import cache_path
    from .provider import make_provider

    loaded = load_config(env)
    lists = resolve_models(loaded.endpoints, ModelCache(cache_path()))
    classes = [make_provider(endpoint, lists[endpoint.name]) for endpoint in loaded.endpoints]
    return classes, loaded.errors


@hookimpl
def register_providers(register: Callable[[type], type]) -> None:
    """Register one provider per configured endpoint (see the module documentation)."""
    classes, problems = load_providers()
    for cls in classes:
        register(cls)
    if problems:
        raise OpenAIConfigError(problems)
