"""provider-core-anthropic: Anthropic's Claude models (the Messages API) as a provider.

provider-core finds this module through the entry point ``anthropic`` in the group
``provider_core`` and calls its hooks:

``register_providers``
    Registers one provider, ``Anthropic``, configured from ``ANTHROPIC_API_KEY`` /
    ``ANTHROPIC_BASE_URL`` (without a key it is registered not working, saying which
    variable to set), serving the shipped models plus the ids of the live list provider-core's
    model catalog last fetched (read from its cache, never the network). When the last
    fetch failed, the list's problem is a warning of this plugin (``provider-core plugins``).

``fetch_models``
    ``GET {base}/v1/models``, every page, with the environment's key: the live list, for
    the catalog (``provider-core refresh``, a gateway, a request for an unknown model).

Importing this module loads neither requests nor pydantic. ``provider_anthropic.server``
is a loopback server speaking the same protocol, for tests and demos.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provider_core import hookimpl

from .models import DEFAULT_MODEL, MODELS, ModelInfo
from .provider import Anthropic, configured

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Anthropic",
    "ModelInfo",
    "configured",
    "fetch_models",
    "register_providers",
]
__version__ = "0.1.0"


@hookimpl
def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
    """Register the :class:`Anthropic` provider configured from the environment, as it is
    now, with the model catalog's cached live ids; warn about the list's last failure."""
    from provider_core.modelcache import with_cached_models

    provider, problem = with_cached_models(configured(os.environ))
    register(provider)
    if problem:
        warn(problem)


@hookimpl
def fetch_models(provider: type) -> list[str] | None:
    """The live model ids of an :class:`Anthropic` provider (``None`` for any other, or
    one not configured); see :func:`provider_anthropic.models.live_model_ids`."""
    if not (isinstance(provider, type) and issubclass(provider, Anthropic)):
        return None
    from .models import live_model_ids

    return live_model_ids(provider)
