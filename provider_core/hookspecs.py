"""The pluggy hook specifications a provider plugin implements.

A plugin is a module (or object) named by an entry point in the group ``provider_core``;
its functions marked ``@provider_core.hookimpl`` are called by the registry::

    from provider_core import hookimpl

    @hookimpl
    def register_providers(register):
        register(MyProvider)

A hook implementation takes any subset of its specification's arguments, by name: a plugin
written for ``register_providers(register)`` keeps working now that ``warn`` exists.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "provider_core"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
    """Register the provider classes this plugin ships.

    Call ``register(ProviderClass)`` once per class. Each class is checked against the
    provider contract; a class that breaks it is refused and reported (``provider-core
    plugins``), and the plugin's other classes still register.

    ``warn(text)`` records a problem that is not a failure (one bad entry of the plugin's
    configuration among good ones, a deprecated setting): the plugin stays ``loaded`` and
    ``provider-core plugins`` shows ``loaded (1 warning)`` with the text. Raise instead when
    the plugin cannot work at all; it is then ``failed``, with the exception as its error.

    The hook runs at the registry's first query, and again whenever the model catalog's
    cache changes for a provider it registered (a refresh: see :func:`fetch_models`); it
    must then register the same providers, built from what it reads now. It must not do
    network I/O: the registry is read by every CLI command, offline too. A provider whose
    models are fetched live reads its list with :func:`provider_core.modelcache.cached_models`.
    """


@hookspec
def register_aliases(register: Callable[[str, str | list[str]], None]) -> None:
    """Ship model aliases: call ``register(alias, targets)`` for each, where ``targets`` is
    ``"MODEL"`` / ``"MODEL@PROVIDER"`` or an ordered list of them (a fallback group).

    Asked lazily, at the first routing question about a name that is no model id; must not
    do I/O. An alias of the same name in the user's config file replaces the plugin's; a
    real model id always wins over an alias. Problems are reported by ``provider-core
    check``, never raised.
    """


@hookspec(firstresult=True)
def provider_working(provider: type, model: str | None) -> bool | None:
    """Say whether ``provider`` is working right now for ``model`` (``None``: for any model,
    as when listing providers), overriding its static flag.

    Return ``True`` or ``False`` to decide, or ``None`` for no opinion (the next
    implementation, and finally the class's ``working`` attribute, decide). The first
    non-``None`` answer wins. Called on every routing decision, so it must be cheap: read
    cached state (a health check's last result, a circuit breaker), never do I/O here. An
    implementation may leave ``model`` out of its parameters (pluggy passes only the
    arguments an implementation names), as plugins written before it was added do.

    While an installed plugin implements this hook, route plans are not cached: its answers
    may change at any time. (The core's own circuit breaker tells the registry's router
    when its answers change, ``registry.router.routes_changed()``, so plans stay cached.)
    """


@hookspec
def provider_attempt(provider: type, model: str) -> bool | None:
    """Say whether routing may send a request for ``model`` to ``provider`` now; ``False``
    skips it.

    Called by the fallback loop right before it calls a routed candidate (not for a
    provider the caller named explicitly). A circuit breaker uses it to let exactly one
    trial request through a half-open circuit; the skipped candidate is listed in the
    completion's ``attempts`` with the reason ``provider_status`` gives. Must be cheap.
    """


@hookspec
def provider_outcome(provider: type, model: str, error: BaseException | None, elapsed: float) -> None:
    """Learn how one request for ``model`` to ``provider`` went; the return value is ignored.

    Called by the fallback loop for every attempt, the named-provider case included:
    ``error=None`` when the first chunk arrived (``elapsed`` = seconds to it); else the
    exception that ended the attempt (``elapsed`` = seconds since the request started):
    the provider's error before the first chunk, the :class:`StreamInterrupted` the caller
    gets after it (its ``__cause__`` the provider's error). Every error is reported: an
    implementation decides which
    count, e.g. with ``provider_core.health.is_upstream_fault`` (upstream faults such as
    timeouts, 5xx, 429, resets, empty replies and broken providers count; a caller's bad
    request, ``fallback_ok`` false, does not). Called in the request's thread; a hook that
    raises is recorded as a registry warning and never breaks the request.
    """


@hookspec(firstresult=True)
def fetch_models(provider: type) -> list[str] | None:
    """Fetch the live list of model ids ``provider`` serves, now, from its service.

    Return the list (at least one id), or ``None`` when this plugin does not fetch a list
    for ``provider`` (not its provider, or one whose models are fixed): the first
    non-``None`` answer wins. Raise a :class:`~provider_core.errors.ProviderError` whose
    message says what went wrong (``connection refused (http://host/v1/models)``): the
    catalog records it as the provider's list problem. Bound the request's time yourself
    (the catalog stops waiting after its own timeout, 30 s by default).

    Called only by the model catalog (:mod:`provider_core.catalog`): by ``provider-core
    refresh``, by a gateway in the background and, at most once per refresh interval, when
    a request names a model no provider lists. The list goes into the cache
    (:mod:`provider_core.modelcache`) and the plugin's ``register_providers`` runs again to
    pick it up. Called from worker threads, several providers at once.
    """


@hookspec(firstresult=True)
def models_max_age(provider: type) -> float | None:
    """Seconds a fetched model list of ``provider`` stays fresh, or ``None`` for the
    default (one hour). A gateway refreshes lists older than this in the background, and a
    request for an unknown model refreshes them at once; ``0`` makes a list always stale
    (a local server whose models change as they are pulled). Must be cheap: no I/O.
    """


@hookspec(firstresult=True)
def provider_status(provider: type, model: str | None) -> str | None:
    """Why ``provider`` is not working now for ``model`` (``None``: as a whole), in a few
    words (e.g. ``"circuit open until 12:03:04"``), or ``None`` for no opinion.

    Consulted only to explain a skipped provider (``route``, ``NoProviderAvailable``),
    never on the routing fast path.
    """


@hookspec(firstresult=True)
def provider_retry_after(provider: type, model: str | None) -> float | None:
    """Seconds until ``provider`` may be tried again for ``model``, when it is not working
    now and that time is known (an open circuit's reopening), else ``None``.

    Consulted when routing skips a provider, never on the fast path of a working one; the
    gateway turns the earliest such time into a ``Retry-After`` header on its 503.
    """


@hookspec(firstresult=True)
def provider_latency(provider: type, model: str) -> float | None:
    """The moving average of seconds to the first chunk of ``provider`` for ``model``, as
    measured across processes, or ``None`` for no opinion (the router's own figure for this
    process is used). Read by the ``latency`` routing strategy on every request it orders:
    must be cheap (no I/O). The core's own implementation shares the figures through Redis
    (:mod:`provider_core.health.latency`).
    """
