"""What every front end shows of one provider: ``providers --json``, the gateway's
``/v1/providers``, ``probe``.

One record, so the CLI and the gateway never word a provider differently: its static flags
(:meth:`~provider_core.provider.AbstractProvider.describe`), ``working`` now
(``working_static``: the class's own flag), the plugin that registered it, why it is not
working (``status_reason``, as routing says it), and which of its models are not working
now while it is (``unavailable_models``: model -> why, e.g. its circuit for that model is
open until a given time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["describe"]


def describe(registry: Registry, provider: type) -> dict[str, Any]:
    """The record of ``provider`` in ``registry`` (see the module docstring)."""
    hooks = registry.hooks
    data = provider.describe()  # type: ignore[attr-defined]
    data["working_static"] = data["working"]
    data["working"] = hooks.is_working(provider)
    data["plugin"] = registry.origin(provider)
    data["status_reason"] = registry.status_reason(provider)
    down = [m for m in provider.models if not hooks.is_working(provider, m)] if data["working"] else []
    data["unavailable_models"] = {m: registry.router.not_working_reason(provider, m) for m in down}
    return data
