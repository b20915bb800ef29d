"""provider-core-openai: every endpoint that speaks the OpenAI chat-completions protocol
(OpenAI, OpenRouter, vLLM, llama.cpp's server, Ollama, LM Studio, our own gateway) as a
provider of its own.

The hooks:

``register_providers``
    Reads the configuration (:mod:`provider_openai.config`: the TOML file and the
    ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` zero-config path) and each endpoint's models
    (:mod:`provider_openai.models`: from the file, or the model catalog's cache; never from
    the network), and registers one provider per endpoint. An endpoint whose live list was
    never fetched or failed is still registered, not working, with the reason. A problem
    in the file leaves out the endpoint concerned and is reported as a warning of this
    plugin (``provider-core plugins``: ``loaded (1 warning)``); only when the configuration
    has problems and no endpoint loaded at all is the plugin failed, with an
    :class:`OpenAIConfigError`.

``fetch_models``
    ``GET {base_url}/models`` for an endpoint without a configured ``models`` list (the
    model catalog calls it: ``provider-core refresh``, a gateway, a request for an
    unknown model).

``models_max_age``
    The endpoint's ``models_ttl``: by default 0 for an endpoint on this machine (its list
    changes as models are pulled), one hour otherwise.

With no configuration file and neither variable set the plugin registers nothing, and
imports neither pydantic, requests nor its provider module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from provider_core import hookimpl
from provider_core.errors import ProviderError

from .paths import has_configuration

if TYPE_CHECKING:
    from .provider import OpenAIEndpoint

__version__ = "0.1.0"
__all__ = ["OpenAIConfigError", "OpenAIEndpoint", "__version__", "load_providers"]

PROVIDER_MODULE = f"{__name__}.provider"


class OpenAIConfigError(ProviderError):
    """The configuration has problems and no endpoint could be loaded; ``problems`` lists
    them, one line each, as ``FILE: KEY: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = f"{len(problems)} configuration problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"{count}: " + "; ".join(problems))


def __getattr__(name: str) -> Any:
    if name == "OpenAIEndpoint":  # imported on first use: a start-up without endpoints never needs it
        from .provider import OpenAIEndpoint

        return OpenAIEndpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_providers(environ: dict[str, str] | None = None) -> tuple[list[type[OpenAIEndpoint]], list[str]]:
    """Build the provider classes from the configuration and the model catalog's cache:
    ``(classes, problems)``. Reads files only, never the network."""
    env = dict(os.environ) if environ is None else environ
    if not has_configuration(env):
        return [], []
    from .config import load_config
    from .models import model_list
    from .provider import make_provider

    loaded = load_config(env)
    classes = [make_provider(endpoint, model_list(endpoint)) for endpoint in loaded.endpoints]
    return classes, loaded.errors


@hookimpl
def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
    """Register one provider per configured endpoint (see the module documentation)."""
    classes, problems = load_providers()
    if problems and not classes:
        raise OpenAIConfigError(problems)
    for cls in classes:
        register(cls)
    for problem in problems:
        warn(problem)


def _endpoint_of(provider: type) -> Any:
    """The configuration of ``provider`` when it is one of this plugin's endpoints."""
    module = sys.modules.get(PROVIDER_MODULE)  # not imported: no endpoint exists
    base = getattr(module, "OpenAIEndpoint", None)
    if base is None or not (isinstance(provider, type) and issubclass(provider, base)):
        return None
    return getattr(provider, "endpoint", None)


@hookimpl
def fetch_models(provider: type) -> list[str] | None:
    """The live model ids of an endpoint without a configured list (``None`` otherwise)."""
    endpoint = _endpoint_of(provider)
    if endpoint is None or endpoint.models is not None:
        return None
    from .models import fetch_model_ids

    return fetch_model_ids(endpoint)


@hookimpl
def models_max_age(provider: type) -> float | None:
    """How long an endpoint's fetched list stays fresh: its ``ttl``."""
    endpoint = _endpoint_of(provider)
    return None if endpoint is None else endpoint.ttl
