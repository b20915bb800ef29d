"""Model aliases: a name that stands for one model, or for an ordered fallback group.

An alias comes from the user's config file (``[aliases]``, see
:mod:`provider_core.userconfig`) or from a plugin (the ``register_aliases`` hook); the
user's alias replaces a plugin's of the same name. Its targets are ``MODEL`` (every
provider serving that model id) or ``MODEL@PROVIDER`` (that provider only; the name is
matched case-insensitively), tried in order. A target may name another alias.

Pure functions over plain data: parsing (:func:`parse_aliases`), expansion to concrete
targets (:func:`expand`) and the problems ``check`` reports (:func:`alias_problems`). A bad
alias or target is reported and left out; it never breaks the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from .records import Record

__all__ = [
    "Alias",
    "AliasProblem",
    "Target",
    "alias_problems",
    "as_served",
    "expand",
    "parse_aliases",
    "parse_target",
]


class Target(Record):
    """One target of an alias: a model id, and optionally the one provider to ask for it."""

    _fields = ("model", "provider")
    __slots__ = _fields
    _defaults: ClassVar = {"provider": None}
    model: str
    provider: str | None

    def __str__(self) -> str:
        return f"{self.model}@{self.provider}" if self.provider else self.model


class Alias(Record):
    """An alias ``name`` for ``targets`` (in fallback order), defined in ``source`` (the
    config file, or ``plugin NAME``)."""

    _fields = ("name", "targets", "source")
    __slots__ = _fields
    name: str
    targets: tuple[Target, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"alias": self.name, "targets": [str(t) for t in self.targets], "source": self.source}


class AliasProblem(Record):
    """What is wrong with alias ``alias`` (``where``: the file and key, or the plugin)."""

    _fields = ("alias", "where", "message")
    __slots__ = _fields
    alias: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"alias": self.alias, "where": self.where, "message": self.message}


def parse_target(text: Any) -> Target:
    """``"MODEL"`` or ``"MODEL@PROVIDER"`` as a :class:`Target`; ``ValueError`` saying why not."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a target is 'MODEL' or 'MODEL@PROVIDER', got {text!r}")
    model, at, provider = text.strip().rpartition("@") if "@" in text else (text.strip(), "", "")
    if at and (not model or not provider):
        raise ValueError(f"a target is 'MODEL' or 'MODEL@PROVIDER', got {text!r}")
    if not model.isprintable() or (provider and not provider.isprintable()):
        raise ValueError(f"a target must be printable text, got {text!r}")
    return Target(model, provider or None)


def as_served(target: Target, served: Mapping[str, Any], providers: Mapping[str, Any]) -> Target:
    """``target`` read against what is installed: ``MODEL@X`` where ``X`` is no provider
    but the whole text is a served model id (ids such as ``claude-3-5-sonnet@20240620``
    hold an ``@``) is that model, on every provider serving it. ``providers`` is keyed by
    lower-cased provider name."""
    if target.provider is not None and target.provider.lower() not in providers:
        whole = f"{target.model}@{target.provider}"
        if whole in served:
            return Target(whole)
    return target


def parse_aliases(table: Any, source: str, where: str = "aliases") -> tuple[dict[str, Alias], list[AliasProblem]]:
    """The aliases of one table ``{name: "MODEL[@PROVIDER]" | [targets...]}`` from
    ``source``; each problem names ``where.NAME`` (a bad target is left out, an alias left
    with none is dropped)."""
    if not isinstance(table, Mapping):
        return {}, [AliasProblem("", where, f"must be a table of alias = target(s), got {type(table).__name__}")]
    found: dict[str, Alias] = {}
    problems: list[AliasProblem] = []
    for name, value in table.items():
        key = f"{where}.{name}"
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            problems.append(AliasProblem(str(name), key, "an alias name must be printable text"))
            continue
        raw = [value] if isinstance(value, str) else value
        if not isinstance(raw, list) or not raw:
            problems.append(AliasProblem(name, key, "must be a target or a non-empty list of targets"))
            continue
        targets: list[Target] = []
        for i, item in enumerate(raw):
            try:
                target = parse_target(item)
            except ValueError as exc:
                problems.append(AliasProblem(name, f"{key}[{i}]" if len(raw) > 1 else key, str(exc)))
                continue
            if target not in targets:
                targets.append(target)
        if targets:
            found[name] = Alias(name, tuple(targets), source)
    return found, problems


def expand(name: str, aliases: Mapping[str, Alias]) -> tuple[list[Target], list[str]]:
    """The concrete targets of alias ``name``, in order (a target naming another alias is
    replaced by that alias's targets; each kept once), and the loops met on the way
    (``"a -> b -> a"``), whose looping target is left out."""
    out: list[Target] = []
    loops: list[str] = []

    def walk(current: str, path: tuple[str, ...]) -> None:
        for target in aliases[current].targets:
            inner = aliases.get(target.model) if target.provider is None else None
            if inner is None:
                if target not in out:
                    out.append(target)
            elif target.model in path:
                loops.append(" -> ".join((*path, target.model)))
            else:
                walk(target.model, (*path, target.model))

    if name in aliases:
        walk(name, (name,))
    return out, loops


def alias_problems(
    aliases: Mapping[str, Alias],
    served: Mapping[str, Iterable[str]],
    providers: Iterable[str],
) -> list[AliasProblem]:
    """What ``check`` reports of ``aliases``, given the model index ``served`` (model id ->
    the names of the providers serving it) and the installed provider names: an alias that
    shadows a real model id (the model wins), a target with an unknown provider or a model
    that provider (or any) does not serve, a loop, and an alias left with no usable target."""
    known = {p.lower(): p for p in providers}
    serving = {model: {p.lower() for p in names} for model, names in served.items()}
    problems: list[AliasProblem] = []
    for name, alias in aliases.items():
        where = f"{alias.source}: aliases.{name}"

        def report(message: str, name: str = name, where: str = where) -> None:
            problems.append(AliasProblem(name, where, message))

        if name in serving:
            report(f"shadows the model id {name!r} (the model wins: the alias is unused)")
            continue
        targets, loops = expand(name, aliases)
        for loop in loops:
            report(f"forms a loop: {loop}")
        usable = 0
        for target in (as_served(t, serving, known) for t in targets):
            if target.provider is not None and target.provider.lower() not in known:
                report(f"target {target}: no installed provider {target.provider!r}")
            elif target.model not in serving:
                report(f"target {target}: no installed provider serves {target.model!r}")
            elif target.provider is not None and target.provider.lower() not in serving[target.model]:
                report(f"target {target}: {known[target.provider.lower()]} does not serve {target.model!r}")
            else:
                usable += 1
        if not usable and not loops:
            report("has no usable target")
    return problems
