"""Routing strategies: the order in which equally ranked candidates are tried.

A route plan ranks its candidates (by provider ``priority``; for an alias with the
``priority`` strategy, by the order of its targets first) and a strategy reorders the
candidates of equal rank, per request; it never adds or skips one:

``priority``
    no reordering (then by provider name): the default.
``latency``
    the lowest moving average of time to first chunk (:class:`LoadStats`) first;
    candidates never measured come before every measured one, so each gets measured.
``least-busy``
    the fewest requests in flight first (started, not yet finished, in this process).
``weighted``
    a random order in which each candidate's chance to come first is its weight
    (``[routing.weights]``, ``"MODEL@PROVIDER" = number``, default 1); seedable.

The settings come from the config file's ``[routing]`` table (:func:`parse_routing`):
``strategy`` for every route, ``[routing.aliases.NAME] strategy`` for one alias,
``[routing.weights]``, and ``seed`` for a reproducible weighted order (tests).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .records import Record

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = ["STRATEGIES", "LoadStats", "RoutingConfig", "order", "parse_routing"]

STRATEGIES = ("priority", "latency", "least-busy", "weighted")


class RoutingConfig(Record):
    """The ``[routing]`` settings; see the module docstring. ``weights`` are keyed
    ``"model@provider"`` (the provider lower-cased)."""

    _fields = ("strategy", "aliases", "weights", "seed")
    #: ``measures``: whether some route needs the figures of :class:`LoadStats` (asked on
    #: every request); ``counts_load``: whether one needs the requests in flight
    #: (``least-busy``). Derived, so not fields.
    __slots__ = (*_fields, "measures", "counts_load")
    _defaults: ClassVar = {
        "strategy": "priority",
        "aliases": {},  # shared defaults, never mutated (a settings record is read only)
        "weights": {},
        "seed": None,
    }
    strategy: str
    aliases: Mapping[str, str]
    weights: Mapping[str, float]
    seed: int | None
    measures: bool
    counts_load: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        used = {self.strategy, *self.aliases.values()}
        object.__setattr__(self, "measures", bool(used & {"latency", "least-busy"}))
        object.__setattr__(self, "counts_load", "least-busy" in used)

    def strategy_for(self, alias: str | None) -> str:
        """The strategy of a route: the alias's own, else the global one."""
        return self.aliases.get(alias, self.strategy) if alias is not None else self.strategy

    def weight(self, provider: str, model: str) -> float:
        return self.weights.get(f"{model}@{provider.lower()}", 1.0)


def parse_routing(table: Any, where: str = "routing") -> tuple[RoutingConfig, list[tuple[str, str]]]:
    """The :class:`RoutingConfig` of a ``[routing]`` table and its problems as
    ``(key, message)`` pairs; a bad setting is reported and its default kept."""
    problems: list[tuple[str, str]] = []
    if table is None:
        return RoutingConfig(), problems
    if not isinstance(table, Mapping):
        return RoutingConfig(), [(where, "must be a table")]

    def strategy(value: Any, key: str) -> str | None:
        if value in STRATEGIES:
            return str(value)
        problems.append((key, f"must be one of {', '.join(map(repr, STRATEGIES))}, got {value!r}"))
        return None

    known = {"strategy", "aliases", "weights", "seed"}
    problems += [(f"{where}.{k}", "unknown setting") for k in table if k not in known]
    chosen = strategy(table["strategy"], f"{where}.strategy") if "strategy" in table else None
    per_alias: dict[str, str] = {}
    for name, value in (table.get("aliases") or {}).items():
        raw = value.get("strategy") if isinstance(value, Mapping) else value
        got = strategy(raw, f"{where}.aliases.{name}.strategy")
        if got is not None:
            per_alias[name] = got
    weights: dict[str, float] = {}
    for key, value in (table.get("weights") or {}).items():
        model, at, provider = str(key).rpartition("@")
        if not at or not model or not provider:
            problems.append((f"{where}.weights.{key}", "a key is 'MODEL@PROVIDER'"))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            problems.append((f"{where}.weights.{key}", f"must be a number >= 0, got {value!r}"))
        else:
            weights[f"{model}@{provider.lower()}"] = float(value)
    seed = table.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.append((f"{where}.seed", f"must be an integer, got {seed!r}"))
        seed = None
    return RoutingConfig(chosen or "priority", per_alias, weights, seed), problems


class LoadStats:
    """Per (provider name, model): the moving average of the time to first chunk, and
    the requests in flight, in this process. Fed by the fallback loop (the same
    measurement it reports to the ``provider_outcome`` hooks); read by :func:`order`.

    The averages are written without a lock: a lost update of an average is harmless, and
    this runs on every request of a ``latency`` route. The requests in flight are counted
    under a lock, and only while :attr:`counts_load` is set (a ``least-busy`` route exists):
    a lost increment would bias the strategy for good."""

    #: Weight of the newest sample in the moving average.
    ALPHA = 0.3

    def __init__(self) -> None:
        self._latency: dict[tuple[str, str], float] = {}
        self._inflight: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        #: Whether :meth:`started` / :meth:`finished` count (set by the router from its config).
        self.counts_load = False

    def started(self, provider: str, model: str) -> None:
        if not self.counts_load:
            return
        key = (provider, model)
        with self._lock:
            self._inflight[key] = self._inflight.get(key, 0) + 1

    def finished(self, provider: str, model: str) -> None:
        if not self.counts_load:
            return
        key = (provider, model)
        with self._lock:
            left = self._inflight.get(key, 0) - 1
            if left > 0:
                self._inflight[key] = left
            else:
                self._inflight.pop(key, None)

    def first_chunk(self, provider: str, model: str, seconds: float) -> None:
        key = (provider, model)
        old = self._latency.get(key)
        self._latency[key] = seconds if old is None else old + self.ALPHA * (seconds - old)

    def latencies(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        """The moving averages of ``keys`` ((provider, model) pairs), ``-1.0`` for one never
        measured (so that it sorts first)."""
        get = self._latency.get
        return [get(key, -1.0) for key in keys]

    def inflights(self, keys: Sequence[tuple[str, str]]) -> list[int]:
        get = self._inflight.get
        return [get(key, 0) for key in keys]

    def latency(self, provider: str, model: str) -> float | None:
        """The moving average of seconds to the first chunk, or ``None`` before any."""
        return self._latency.get((provider, model))

    def inflight(self, provider: str, model: str) -> int:
        return self._inflight.get((provider, model), 0)


def order(
    candidates: Sequence[type],
    models: Sequence[str],
    tiers: Sequence[int],
    strategy: str,
    stats: LoadStats,
    config: RoutingConfig,
    rng: random.Random,
    keys: Sequence[tuple[str, str]] | None = None,
) -> tuple[tuple[type, ...], tuple[str, ...]]:
    """``candidates`` (with the model each is asked for) reordered by ``strategy`` within
    each run of equal ``tiers`` (the plan's ranks, ascending); a stable sort, so equal
    figures keep the plan's order. ``keys`` are the (provider name, model) pairs, when the
    caller keeps them. Runs on every request of a route with a strategy."""
    n = len(candidates)
    if strategy == "priority" or n < 2:
        return tuple(candidates), tuple(models)
    if keys is None:
        keys = [(p.name, m) for p, m in zip(candidates, models, strict=True)]
    if strategy == "latency":
        figures = stats.latencies(keys)
    elif strategy == "least-busy":
        figures = stats.inflights(keys)
    else:  # weighted
        figures = [_weighted_key(rng, config.weight(name, model)) for name, model in keys]
    if n == 2:  # the common case, without the general machinery (bench: "the latency strategy")
        if tiers[0] == tiers[1] and figures[1] < figures[0]:
            return (candidates[1], candidates[0]), (models[1], models[0])
        return tuple(candidates), tuple(models)
    if tiers[0] == tiers[-1]:  # one rank (ranks ascend): the figures alone decide
        ranked = sorted(range(n), key=figures.__getitem__)
    else:
        ranked = sorted(range(n), key=lambda i: (tiers[i], figures[i]))
    if all(i == r for i, r in enumerate(ranked)):
        return tuple(candidates), tuple(models)  # already in order: no new tuples
    return tuple(candidates[i] for i in ranked), tuple(models[i] for i in ranked)


def _weighted_key(rng: random.Random, weight: float) -> float:
    """A key whose ascending order is a weighted random order (the exponential-clock
    method: each candidate's chance to sort first is its share of the total weight)."""
    if weight <= 0:
        return float("inf")
    return rng.expovariate(weight)
