"""provider-core: the plugin framework LLM chat providers are written against.

The public face only: every name is re-exported from the module that defines it, and
loaded on first access, so ``import provider_core`` imports neither pluggy, pydantic,
requests nor any plugin.
"""

from __future__ import annotations

import importlib

from .version import __version__

# typing.TYPE_CHECKING without importing typing (and re, collections, ... behind it): that
# import alone would be most of the cost of ``import provider_core``.
TYPE_CHECKING = False

_EXPORTS = {
    "AbstractProvider": "provider",
    "CreateResult": "provider",
    "Message": "provider",
    "Messages": "provider",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "Registry": "registry",
    "get_registry": "defaults",
    "Completion": "fallback",
    "RoutePlan": "routing",
    "create_completion": "completion",
    "acreate_completion": "aio",
    "ChatResult": "reply",
    "FinishReason": "events",
    "ToolCall": "events",
    "ToolCallDelta": "events",
    "Usage": "events",
    "Attempt": "errors",
    "DuplicateProviderWarning": "errors",
    "EmptyResponse": "errors",
    "FallbackWarning": "errors",
    "InvalidMessages": "errors",
    "ModelNotSupported": "errors",
    "NoProviderAvailable": "errors",
    "PluginLoadError": "errors",
    "ProviderConnectionError": "errors",
    "ProviderContractError": "errors",
    "ProviderError": "errors",
    "ProviderHTTPError": "errors",
    "ProviderNotFound": "errors",
    "ProviderNotWorkingWarning": "errors",
    "ProviderTimeout": "errors",
    "StreamInterrupted": "errors",
    "UpstreamError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'provider_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from .aio import acreate_completion
    from .completion import create_completion
    from .defaults import get_registry
    from .errors import (
        Attempt,
        DuplicateProviderWarning,
        EmptyResponse,
        FallbackWarning,
        InvalidMessages,
        ModelNotSupported,
        NoProviderAvailable,
        PluginLoadError,
        ProviderConnectionError,
        ProviderContractError,
        ProviderError,
        ProviderHTTPError,
        ProviderNotFound,
        ProviderNotWorkingWarning,
        ProviderTimeout,
        StreamInterrupted,
        UpstreamError,
    )
    from .fallback import Completion
    from .hookspecs import hookimpl, hookspec
    from .provider import AbstractProvider, CreateResult, Message, Messages
    from .registry import Registry
    from .routing import RoutePlan
