"""The hooks a registry asks on the request path: working now?, may I call?, how did it go?

:class:`HookCalls` is the part of :class:`~provider_core.registry.Registry` that asks the
plugins' ``provider_working``, ``provider_status``, ``provider_attempt`` and
``provider_outcome`` hooks; the registry inherits it, so these methods cost no more than if
they were written in the registry (routing calls them per request: keep them lean).

What is cached: the pluggy caller of each hook (``None`` when no plugin implements it), and
for a hook with one plain implementation its function, called without pluggy's machinery
(pluggy's call costs about a microsecond). :meth:`_forget_hook_callers` drops the cache; the
registry calls it whenever a plugin is added. A hook that raises is a registry warning
(recorded once per message) and counts as no opinion: a broken plugin never breaks a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .loader import describe_exception

__all__ = ["HookCalls"]


class HookCalls:
    """The request-time hook queries of a registry (a base of ``Registry``)."""

    _pm: Any
    _warnings: list[str]
    _working_hooked: bool | None
    _dynamic: bool | None
    _callers: dict[str, Any]

    def is_working(self, provider: type) -> bool:
        """Whether ``provider`` counts as working now: the first non-``None`` answer of the
        ``provider_working`` hook, else its static ``working`` flag. A hook that raises is
        recorded and treated as no opinion."""
        if self._has_working_hooks():
            try:
                answer = self.plugin_manager.hook.provider_working(provider=provider)
            except Exception as exc:
                self._hook_failed("provider_working", exc)
                answer = None
            if answer is not None:
                return bool(answer)
        return bool(provider.working)

    def _hook_failed(self, hook: str, exc: BaseException) -> None:
        text = f"{hook} hook raised {describe_exception(exc)}"
        if text not in self._warnings:
            self._warn(text)

    def hook_caller(self, hook: str) -> Any:
        """The pluggy caller of ``hook`` when some plugin implements it, else ``None`` (cached)."""
        caller = self._callers.get(hook, False)
        if caller is False:
            caller = getattr(self._pm.hook, hook, None) if self._pm is not None else None
            caller = caller if caller is not None and caller.get_hookimpls() else None
            self._callers[hook] = caller
        return caller

    def _call_hook(self, hook: str, default: Any, **kwargs: Any) -> Any:
        caller = self.hook_caller(hook)
        if caller is None:
            return default
        direct = self._callers.get("direct:" + hook, False)
        if direct is False:  # one plain implementation: call it without pluggy's machinery (per request)
            impls = caller.get_hookimpls()
            plain = len(impls) == 1 and not (impls[0].hookwrapper or getattr(impls[0], "wrapper", False))
            first = bool(caller.spec and caller.spec.opts.get("firstresult"))
            direct = self._callers["direct:" + hook] = (impls[0].function, impls[0].argnames, first) if plain else None
        try:
            if direct is None:
                return caller(**kwargs)
            function, names, first = direct
            result = function(**{name: kwargs[name] for name in names})
            return result if first else ([] if result is None else [result])
        except Exception as exc:  # a broken plugin never breaks a request
            self._hook_failed(hook, exc)
            return default

    def allow_attempt(self, provider: type) -> bool:
        """False when a ``provider_attempt`` hook says not to call ``provider`` now."""
        return False not in self._call_hook("provider_attempt", (), provider=provider)

    def report_outcome(self, provider: type, error: BaseException | None, elapsed: float) -> None:
        """Tell the ``provider_outcome`` hooks how an attempt went (never raises)."""
        self._call_hook("provider_outcome", None, provider=provider, error=error, elapsed=elapsed)

    def status_reason(self, provider: type) -> str | None:
        """The ``provider_status`` hooks' explanation of why ``provider`` is not working."""
        answer = self._call_hook("provider_status", None, provider=provider)
        return str(answer) if answer else None

    def _has_working_hooks(self) -> bool:
        hooked = self._working_hooked
        if hooked is None:
            hooked = bool(self._pm is not None and self._pm.hook.provider_working.get_hookimpls())
            self._working_hooked = hooked
        return hooked

    @property
    def dynamic_working(self) -> bool:
        """True when a ``provider_working`` hook is installed whose plugin does not promise to
        call :meth:`routes_changed` (``notifies_changes``); route plans are then not cached."""
        self._ensure_loaded()
        dynamic = self._dynamic
        if dynamic is None:
            impls = self._pm.hook.provider_working.get_hookimpls() if self._has_working_hooks() else []
            dynamic = self._dynamic = any(not getattr(i.plugin, "notifies_changes", False) for i in impls)
        return dynamic

    def _forget_hook_callers(self) -> None:
        """Drop every cached answer about which hooks are implemented (a plugin was added)."""
        self._working_hooked = self._dynamic = None
        self._callers = {}

    if TYPE_CHECKING:  # provided by the registry

        @property
        def plugin_manager(self) -> Any: ...

        def _ensure_loaded(self) -> None: ...

        def _warn(self, text: str, category: type[Warning] = RuntimeWarning) -> None: ...
