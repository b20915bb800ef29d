"""provider-core-anthropic: Anthropic's Claude models (the Messages API) as a provider.

provider-core finds this module through the entry point ``anthropic`` in the group
``provider_core`` and calls :func:`register_providers`, which registers one provider,
``Anthropic``, configured from ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` (without a
key it is registered not working, saying which variable to set). Registration does no
network I/O, and importing this module loads neither requests nor pydantic.

``provider_anthropic.server`` is a loopback server speaking the same protocol, for tests
and demos; :func:`~provider_anthropic.models.fetch_models` reads the live model list.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provider_core import hookimpl

from .models import DEFAULT_MODEL, MODELS, ModelInfo, fetch_models
from .provider import Anthropic, configured

__all__ = ["DEFAULT_MODEL", "MODELS", "Anthropic", "ModelInfo", "configured", "fetch_models", "register_providers"]
__version__ = "0.1.0"


@hookimpl
def register_providers(register: Callable[[type], type]) -> None:
    """Register the :class:`Anthropic` provider configured from the environment, as it is now."""
    register(configured(os.environ))
