"""The model catalog: the live model lists of one registry's providers, fetched into the
on-disk cache (:mod:`provider_core.modelcache`) and picked up by their plugins.

A provider whose models change on its service (an OpenAI-compatible server pulling models)
has its list fetched by its plugin's ``fetch_models`` hook, never while the registry
loads: registration reads the cache. A :class:`ModelCatalog` (``registry.catalog``) does
the fetching and, when an entry changed, runs the plugins concerned again
(:meth:`Registry.reload_plugins <provider_core.registry.Registry.reload_plugins>`), so the
registry serves the new lists at once:

* :meth:`~ModelCatalog.refresh` fetches the lists of the providers named (default: all), in
  parallel, waiting at most ``timeout`` seconds for them together (``provider-core refresh``);
* :meth:`~ModelCatalog.refresh_for_model`, for a request naming a model no provider lists:
  refreshes the lists that are stale, failed or never fetched, at most once per
  :attr:`~ModelCatalog.interval` (:func:`provider_core.create_completion` calls it);
* :meth:`~ModelCatalog.pick_up` notices a cache another process refreshed;
* :meth:`~ModelCatalog.tick`, what a gateway runs every interval in the background:
  ``pick_up``, then refresh what is stale or failed.

A list is **stale** when older than its provider's ``models_max_age`` (the hook's answer,
else :data:`DEFAULT_MAX_AGE`), **failed** when its last fetch failed. A provider whose plugin
answers ``None`` fetches no list (its models are fixed): it is asked once per process.
The interval is ``PROVIDER_CORE_REFRESH_INTERVAL`` seconds (default 60).
"""

from __future__ import annotations

import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ProviderError, one_line, summary
from .hookcalls import HookCalls
from .modelcache import ModelCache, ModelEntry, default_cache, entry_key

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_AGE",
    "DEFAULT_TIMEOUT",
    "ENV_INTERVAL",
    "Host",
    "ModelCatalog",
    "RefreshResult",
    "refresh_interval",
]

ENV_INTERVAL = "PROVIDER_CORE_REFRESH_INTERVAL"
DEFAULT_INTERVAL = 60.0
DEFAULT_MAX_AGE = 3600.0
DEFAULT_TIMEOUT = 30.0
#: Fetches running at once in one refresh.
MAX_PARALLEL = 16


class Host(Protocol):
    """What the catalog needs of its registry (a :class:`~provider_core.registry.Registry`)."""

    @property
    def hooks(self) -> HookCalls: ...

    def providers(self) -> list[type]: ...

    def get(self, name: str) -> type: ...

    def origin(self, provider: type | str) -> str: ...

    def reload_plugins(self, names: Iterable[str]) -> list[str]: ...

    def models_seen(self) -> dict[str, ModelEntry | None]: ...


@dataclass(frozen=True)
class RefreshResult:
    """How one provider's list refresh went. ``status``: ``"updated"`` (a new or different
    list), ``"unchanged"``, ``"failed"`` (``error`` says why; ``models`` counts the list
    still cached) or ``"static"`` (its plugin fetches no list: its models are fixed)."""

    provider: str
    status: str
    models: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "status": self.status, "models": self.models, "error": self.error}


def refresh_interval(environ: Mapping[str, str] | None = None) -> float:
    """``PROVIDER_CORE_REFRESH_INTERVAL`` in seconds (a positive number), else the default."""
    import os

    env = os.environ if environ is None else environ
    raw = env.get(ENV_INTERVAL, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        warnings.warn(f"{ENV_INTERVAL}={raw!r} is not a positive number of seconds; using 60", stacklevel=3)
        return DEFAULT_INTERVAL
    return value


def _checked(result: Any) -> list[str] | str | None:
    """A hook's answer: the list, ``None``, or the text of what is wrong with it."""
    if result is None:
        return None
    if not isinstance(result, (list, tuple)) or not all(isinstance(m, str) and m and m.isprintable() for m in result):
        return f"fetch_models returned {type(result).__name__}, not a list of model ids"
    if not result:
        return "the service lists no models"
    return list(dict.fromkeys(result))


class ModelCatalog:
    """The live model lists of one registry (see the module docstring). Thread-safe: one
    refresh runs at a time, others wait for it."""

    def __init__(
        self,
        host: Host,
        environ: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._clock = clock
        self._monotonic = monotonic
        #: seconds between a gateway's background refreshes, and between on-demand ones
        self.interval = refresh_interval(environ)
        self._static: weakref.WeakSet[type] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._demand_lock = threading.Lock()
        self._demand_at: float | None = None

    @property
    def cache(self) -> ModelCache:
        """The cache file (the process-wide one, which plugins read)."""
        return default_cache()

    # -- what is due ------------------------------------------------------------------

    def entry(self, provider: type) -> ModelEntry | None:
        """The cache's entry for ``provider`` now."""
        return self.cache.entries().get(entry_key(provider.name, provider.url))

    def needs_refresh(self, provider: type) -> bool:
        """Whether ``provider``'s list is stale, failed or never fetched (and its plugin
        has not said it fetches none)."""
        if provider in self._static:
            return False
        entry = self.entry(provider)
        if entry is None or entry.error is not None or entry.fetched_at is None:
            return True
        max_age = self._host.hooks.models_max_age(provider)
        return self._clock() - entry.fetched_at >= (DEFAULT_MAX_AGE if max_age is None else max_age)

    def may_refresh_now(self) -> bool:
        """Whether an on-demand refresh is allowed now (none in the last interval)."""
        at = self._demand_at
        return at is None or self._monotonic() - at >= self.interval

    # -- refreshing -------------------------------------------------------------------

    def refresh(
        self,
        names: Sequence[str] | None = None,
        *,
        providers: Sequence[type] | None = None,
        stale_only: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[RefreshResult]:
        """Fetch the lists of the providers ``names`` (raising
        :class:`~provider_core.errors.ProviderNotFound` for an unknown one), or
        ``providers``, or all; only those due with ``stale_only``. Stores them in the cache
        and lets the plugins concerned register again. One result per provider, in order."""
        if providers is None:
            providers = [self._host.get(n) for n in names] if names else self._host.providers()
        chosen = list(dict.fromkeys(providers))
        if stale_only:
            chosen = [p for p in chosen if self.needs_refresh(p)]
        if not chosen:
            return []
        with self._lock:
            outcomes = self._fetch_all(chosen, timeout)
            now = self._clock()
            entries = self.cache.entries()
            changes: dict[str, ModelEntry] = {}
            results = []
            for provider in chosen:
                key = entry_key(provider.name, provider.url)
                old, outcome = entries.get(key), outcomes[provider]
                if outcome is None:
                    self._static.add(provider)
                    results.append(RefreshResult(provider.name, "static", len(provider.models)))
                    continue
                if isinstance(outcome, list):
                    new = ModelEntry(tuple(outcome), now, None, now)
                    same = old is not None and old.error is None and old.models == new.models
                    results.append(RefreshResult(provider.name, "unchanged" if same else "updated", len(outcome)))
                else:
                    new = ModelEntry(old.models if old else (), old.fetched_at if old else None, outcome, now)
                    results.append(RefreshResult(provider.name, "failed", len(new.models), outcome))
                changes[key] = new
            if changes:
                self.cache.update(changes)
        self.pick_up()
        return results

    def _fetch_all(self, providers: list[type], timeout: float) -> dict[type, Any]:
        """Each provider's hook answer (:func:`_checked`) or error text, asked in parallel;
        one still running after ``timeout`` seconds counts as failed."""
        outcomes: dict[type, Any] = {}
        gate = threading.Semaphore(MAX_PARALLEL)

        def work(provider: type) -> None:
            with gate:
                try:
                    answer: Any = _checked(self._host.hooks.fetch_models(provider))
                except BaseException as exc:  # a plugin's SystemExit ends this thread only
                    answer = one_line(exc) if isinstance(exc, ProviderError) else f"fetch_models raised {summary(exc)}"
                outcomes[provider] = answer

        threads = [
            threading.Thread(target=work, args=(p,), name=f"provider-core-models-{p.name}", daemon=True)
            for p in providers
        ]
        for thread in threads:
            thread.start()
        deadline = self._monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - self._monotonic()))
        late = f"no answer within {timeout:g} s"
        return {p: outcomes.get(p, late) for p in providers}

    def pick_up(self) -> list[str]:
        """Let the plugins whose providers were registered from entries that differ from
        the cache now (refreshed here or by another process) register again; returns them."""
        current = self.cache.entries()
        changed = {key for key, seen in self._host.models_seen().items() if _differs(seen, current.get(key))}
        if not changed:
            return []
        plugins = {self._host.origin(p) for p in self._host.providers() if entry_key(p.name, p.url) in changed}
        return self._host.reload_plugins(sorted(plugins)) if plugins else []

    def refresh_for_model(self, model: str, provider: type | None = None) -> bool:
        """A request named ``model``, which no provider lists (or not ``provider``, named by
        the caller): refresh the lists that are due, at most once per interval. Returns
        whether some list changed (routing is then worth trying again)."""
        if not model or not self.may_refresh_now():
            return False
        with self._demand_lock:
            if not self.may_refresh_now():
                return False
            due = [p for p in ([provider] if provider is not None else self._host.providers()) if self.needs_refresh(p)]
            if not due:
                return False
            self._demand_at = self._monotonic()
            results = self.refresh(providers=due)
        return any(r.status == "updated" for r in results)

    def tick(self) -> list[RefreshResult]:
        """One background round (a gateway's, every interval): pick up what another process
        refreshed, then refresh every list that is stale, failed or never fetched."""
        self.pick_up()
        return self.refresh(stale_only=True)


def _differs(seen: ModelEntry | None, now: ModelEntry | None) -> bool:
    """Whether a plugin that registered from ``seen`` would register differently from ``now``."""
    if seen is None or now is None:
        return seen is not now
    return (seen.models, seen.error) != (now.models, now.error)
