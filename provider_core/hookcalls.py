"""The hooks asked on the request path: working now?, may I call?, how did it go?, why not?

:class:`HookCalls` asks the ``provider_working``, ``provider_attempt``, ``provider_outcome``
and ``provider_status`` hooks of one plugin manager (a registry composes one), and, for the
model catalog, ``fetch_models`` and ``models_max_age``. A hook that
raises is a registry warning (recorded once per message) and counts as no opinion: a broken
plugin never breaks a request. Which hooks are implemented at all is cached (routing asks
per request), and forgotten whenever a plugin is added (:meth:`HookCalls.forget`).

A speed device, kept because the benchmark shows it matters: a hook with exactly one plain
implementation (the circuit breaker's, in a default registry) is called as that function,
without pluggy's dispatch. Two such calls happen per request (``provider_attempt``,
``provider_outcome``); through pluggy each costs about 2.5 us more, which would add about
half again to the per-request overhead (bench/RESULTS.md, "per-request overhead").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import summary

__all__ = ["HookCalls"]


class HookCalls:
    """The request-time hook queries of one :class:`pluggy.PluginManager`; ``warn(text)``
    records a hook that raised."""

    def __init__(self, plugin_manager: Any, warn: Callable[[str], None]) -> None:
        self._pm = plugin_manager
        self._warn = warn
        self._warned: set[str] = set()
        self._callers: dict[str, Any] = {}

    def forget(self) -> None:
        """A plugin was added: which hooks are implemented must be looked up again."""
        self._callers = {}

    def caller(self, hook: str) -> Any:
        """The pluggy caller of ``hook`` when some plugin implements it, else ``None``."""
        caller = self._callers.get(hook, False)
        if caller is False:
            found = getattr(self._pm.hook, hook, None)
            caller = self._callers[hook] = found if found is not None and found.get_hookimpls() else None
        return caller

    def implemented(self, hook: str) -> bool:
        """Whether some plugin implements ``hook``."""
        return self.caller(hook) is not None

    def implementers(self, hook: str) -> list[object]:
        """The plugin objects implementing ``hook``."""
        caller = self.caller(hook)
        return [impl.plugin for impl in caller.get_hookimpls()] if caller is not None else []

    def _direct(self, hook: str, caller: Any) -> Any:
        """``(function, argument names, firstresult)`` when ``hook`` has one plain
        implementation (no wrapper), else ``None``; cached like the callers."""
        direct = self._callers.get("direct:" + hook, False)
        if direct is False:
            impls = caller.get_hookimpls()
            plain = len(impls) == 1 and not (impls[0].hookwrapper or getattr(impls[0], "wrapper", False))
            first = bool(caller.spec and caller.spec.opts.get("firstresult"))
            direct = (impls[0].function, impls[0].argnames, first) if plain else None
            self._callers["direct:" + hook] = direct
        return direct

    def _call(self, hook: str, default: Any, **kwargs: Any) -> Any:
        caller = self.caller(hook)
        if caller is None:
            return default
        direct = self._direct(hook, caller)
        try:
            if direct is None:
                return caller(**kwargs)
            function, names, first = direct
            result = function(**{name: kwargs[name] for name in names})
            return result if first else ([] if result is None else [result])
        except Exception as exc:  # a broken plugin never breaks a request
            text = f"{hook} hook raised {summary(exc)}"
            if text not in self._warned:
                self._warned.add(text)
                self._warn(text)
            return default

    def is_working(self, provider: type, model: str | None = None) -> bool:
        """The first non-``None`` answer of the ``provider_working`` hooks for ``model``
        (``None``: the provider as a whole), else the class's static ``working`` flag."""
        answer = self._call("provider_working", None, provider=provider, model=model)
        return bool(provider.working) if answer is None else bool(answer)

    def allow_attempt(self, provider: type, model: str) -> bool:
        """False when a ``provider_attempt`` hook says not to call ``provider`` for ``model`` now."""
        return False not in self._call("provider_attempt", (), provider=provider, model=model)

    def report_outcome(self, provider: type, model: str, error: BaseException | None, elapsed: float) -> None:
        """Tell the ``provider_outcome`` hooks how an attempt went (never raises)."""
        self._call("provider_outcome", None, provider=provider, model=model, error=error, elapsed=elapsed)

    def fetch_models(self, provider: type) -> list[str] | None:
        """The ``fetch_models`` hooks' live list for ``provider`` (``None``: no plugin
        fetches one). Unlike the request-time hooks, it raises what the plugin raised: the
        model catalog records it as the list's problem."""
        caller = self.caller("fetch_models")
        return None if caller is None else caller(provider=provider)

    def models_max_age(self, provider: type) -> float | None:
        """The ``models_max_age`` hooks' answer for ``provider``, or ``None``."""
        answer = self._call("models_max_age", None, provider=provider)
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not answer >= 0:
            return None
        return float(answer)

    def status_reason(self, provider: type, model: str | None = None) -> str | None:
        """The ``provider_status`` hooks' explanation of why ``provider`` is not working."""
        answer = self._call("provider_status", None, provider=provider, model=model)
        return str(answer) if answer else None

    def retry_after(self, provider: type, model: str | None = None) -> float | None:
        """The ``provider_retry_after`` hooks' seconds until ``provider`` may be tried again."""
        answer = self._call("provider_retry_after", None, provider=provider, model=model)
        return float(answer) if isinstance(answer, (int, float)) and answer >= 0 else None

    def latency(self, provider: type, model: str) -> float | None:
        """The ``provider_latency`` hooks' shared figure (seconds), or ``None``."""
        answer = self._call("provider_latency", None, provider=provider, model=model)
        return float(answer) if isinstance(answer, (int, float)) and answer >= 0 else None
