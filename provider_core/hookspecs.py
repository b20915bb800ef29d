"""The pluggy hook specifications a provider plugin implements.

A plugin is a module (or object) named by an entry point in the group ``provider_core``;
its functions marked ``@provider_core.hookimpl`` are called by the registry::

    from provider_core import hookimpl

    @hookimpl
    def register_providers(register):
        register(MyProvider)
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "provider_core"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers(register: Callable[[type], type]) -> None:
    """Register the provider classes this plugin ships.

    Call ``register(ProviderClass)`` once per class. Each class is checked against the
    provider contract; a class that breaks it is refused and reported (``provider-core
    plugins``), and the plugin's other classes still register. The hook runs once per
    registry, at its first query. It must not do network I/O: the registry is read by
    every CLI command, offline too.
    """


@hookspec(firstresult=True)
def provider_working(provider: type) -> bool | None:
    """Say whether ``provider`` is working right now, overriding its static flag.

    Return ``True`` or ``False`` to decide, or ``None`` for no opinion (the next
    implementation, and finally the class's ``working`` attribute, decide). The first
    non-``None`` answer wins. Called on every routing decision, so it must be cheap: read
    cached state (a health check's last result, a circuit breaker), never do I/O here.
    """
