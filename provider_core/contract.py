"""The static rules a provider class must keep, each with an id, checked at registration.

``check_provider(cls)`` returns one :class:`RuleResult` per rule; ``validate_provider(cls)``
raises :class:`~provider_core.errors.ProviderContractError` naming the class and the first
broken rule. ``provider-core check`` prints the same results.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from typing import ClassVar

from .errors import ProviderContractError
from .provider import AbstractProvider
from .records import Record

__all__ = ["RULES", "Rule", "RuleResult", "check_provider", "validate_provider"]

_FLAGS = (
    "working",
    "supports_stream",
    "supports_gpt_35_turbo",
    "supports_gpt_4",
    "supports_message_history",
    "needs_auth",
    "supports_tools",
    "supports_vision",
    "supports_json",
)


class Rule(Record):
    """One rule: ``check(cls)`` returns ``None`` when kept, else what is wrong."""

    _fields = ("id", "summary", "check")
    __slots__ = _fields
    id: str
    summary: str
    check: Callable[[type], str | None]


class RuleResult(Record):
    """How ``cls`` fared against one rule (``detail``: what is wrong, when not ``ok``)."""

    _fields = ("rule", "summary", "ok", "detail")
    __slots__ = _fields
    _defaults: ClassVar = {"detail": ""}
    rule: str
    summary: str
    ok: bool
    detail: str


def _is_subclass(cls: type) -> str | None:
    if not isinstance(cls, type) or not issubclass(cls, AbstractProvider):
        return f"{cls!r} is not a subclass of provider_core.AbstractProvider"
    return None


def _name(cls: type) -> str | None:
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        return f"name must be a non-empty string, got {name!r}"
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return f"name must have no spaces or control characters, got {name!r}"
    return None


def _flags(cls: type) -> str | None:
    bad = [f"{f}={getattr(cls, f, None)!r}" for f in _FLAGS if not isinstance(getattr(cls, f, None), bool)]
    return ("flags must be bool: " + ", ".join(bad)) if bad else None


def _url(cls: type) -> str | None:
    url = getattr(cls, "url", None)
    return None if isinstance(url, str) else f"url must be a string, got {type(url).__name__}"  # not the value


def _models(cls: type) -> str | None:
    models = getattr(cls, "models", None)
    if not isinstance(models, Mapping) or isinstance(models, type):
        return f"models must be a mapping of model id to display name, got {type(models).__name__}"
    if not models:
        reason = getattr(cls, "status_reason", None)
        if getattr(cls, "working", None) is False and isinstance(reason, str) and reason:
            return None  # not working, and says why (e.g. its model list could not be fetched)
        return "models must not be empty"
    bad = [m for m in models if not isinstance(m, str) or not m or not m.isprintable()]
    return f"model ids must be non-empty printable strings, got {bad[:3]!r}" if bad else None


def _default_model(cls: type) -> str | None:
    default = getattr(cls, "default_model", None)
    models = getattr(cls, "models", None)
    if default is None:
        return None
    if not isinstance(models, Mapping) or default not in models:
        return f"default_model {default!r} is not one of models"
    return None


def _priority(cls: type) -> str | None:
    prio = getattr(cls, "priority", 0)
    if isinstance(prio, bool) or not isinstance(prio, int):
        return f"priority must be an int, got {prio!r}"
    return None


def _create_completion(cls: type) -> str | None:
    if getattr(cls, "__abstractmethods__", None):
        return "abstract methods not implemented: " + ", ".join(sorted(cls.__abstractmethods__))
    raw = inspect.getattr_static(cls, "create_completion", None)
    if not isinstance(raw, classmethod):
        return "create_completion must be a classmethod"
    accepted = _arguments(raw.__func__)
    if accepted is None:
        try:
            sig = inspect.signature(cls.create_completion)
        except (TypeError, ValueError):
            return None
        params = sig.parameters
        accepted = (set(params), any(p.kind is p.VAR_KEYWORD for p in params.values()))
    names, has_var_kw = accepted
    if not {"model", "messages", "stream"} <= names or not has_var_kw:
        return "create_completion must accept (model, messages, stream, **kwargs)"
    return None


def _arguments(func: object) -> tuple[set[str], bool] | None:
    """The parameter names of a plain function (unwrapped, as ``inspect.signature`` would)
    and whether it takes ``**kwargs``, read from its code object: ``inspect.signature``
    costs a tenth of a millisecond per provider at every start. ``None`` for anything
    else (a callable object, a ``__signature__``), which ``inspect.signature`` then reads."""
    while True:
        if not isinstance(func, types.FunctionType) or "__signature__" in func.__dict__:
            return None
        wrapped = func.__dict__.get("__wrapped__")
        if wrapped is None:
            break
        func = wrapped
    code = func.__code__
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return set(names), bool(code.co_flags & inspect.CO_VARKEYWORDS)


RULES: tuple[Rule, ...] = (
    Rule("subclass", "is a subclass of AbstractProvider", _is_subclass),
    Rule("name", "name is a non-empty string without spaces", _name),
    Rule("flags-bool", "capability flags are real bools", _flags),
    Rule("url", "url is a string", _url),
    Rule(
        "models",
        "models is a mapping of model ids, non-empty unless not working with a status_reason",
        _models,
    ),
    Rule("default-model", "default_model is None or one of models", _default_model),
    Rule("priority", "priority is an int", _priority),
    Rule(
        "create-completion", "create_completion(model, messages, stream, **kwargs) is a classmethod", _create_completion
    ),
)


def _broken(rule: Rule, cls: type) -> str | None:
    """What ``cls`` breaks of ``rule`` (``None``: kept); a check that raises is a finding."""
    try:
        return rule.check(cls)
    except Exception as exc:  # a hostile attribute (property raising, odd metaclass)
        return f"checking raised {type(exc).__name__}: {exc}"


def check_provider(cls: type) -> list[RuleResult]:
    """Run every rule over ``cls``; a rule that cannot run because an earlier one failed
    still reports its own finding (rules do not depend on each other except ``subclass``)."""
    results = []
    for rule in RULES:
        detail = _broken(rule, cls)
        results.append(RuleResult(rule.id, rule.summary, detail is None, detail or ""))
        if rule.id == "subclass" and detail is not None:
            break
    return results


def validate_provider(cls: type) -> None:
    """Raise :class:`ProviderContractError` for the first rule ``cls`` breaks (registration
    calls it for every class: it stops at the first finding and builds no results)."""
    for rule in RULES:
        detail = _broken(rule, cls)
        if detail is not None:
            label = getattr(cls, "__qualname__", repr(cls))
            module = getattr(cls, "__module__", "")
            where = f"{module}.{label}" if module else label
            raise ProviderContractError(
                f"provider class {where} breaks rule {rule.id!r}: {detail}",
                provider=getattr(cls, "name", None) if isinstance(getattr(cls, "name", None), str) else None,
                rule=rule.id,
            )
