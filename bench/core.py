"""In-process figures of the core: the route decision at scale, and the per-request overhead
of ``create_completion`` over calling a provider directly."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from .config import Config
from .measure import BenchError, alternate, median
from .report import Row

__all__ = ["bench_overhead", "bench_route"]

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Привет! 你好 👋"}]
#: Providers per shared model: the routed model always has this many candidates, whatever
#: the registry's size, so a flat figure means routing does not scan the registry.
GROUP = 4


def _per_call(fn: Callable[[], Any], calls: int) -> Callable[[], tuple[float, float]]:
    """A side for :func:`alternate`: (wall, CPU) seconds per call over a batch of ``calls``.

    Wall time (``perf_counter_ns``) is the figure; the thread's CPU time is reported next
    to it because, on an oversubscribed machine, wall time also counts the time this
    thread waited for a core.
    """

    def batch() -> tuple[float, float]:
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        wall = time.perf_counter_ns() - start
        return wall / 1e9 / calls, (time.thread_time_ns() - cpu) / 1e9 / calls

    return batch


def _oversubscribed(wall: float, cpu: float) -> str:
    """A remark when wall time ran well over CPU time: the thread was waiting for a core."""
    if wall <= 1.3 * cpu:
        return "."
    return f"; wall time ran {wall / cpu:.1f}x the CPU time: the machine was oversubscribed during this row."


def _registry_of(size: int) -> tuple[Any, str, float]:
    """A registry of ``size`` generated providers; the model to route; seconds to build it
    (registering, validating, and the first route that builds the model index)."""
    from provider_core import AbstractProvider, Registry

    class Base(AbstractProvider):
        url = "http://127.0.0.1/"
        supports_stream = True

        @classmethod
        def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
            yield "ok"

    start = time.perf_counter_ns()
    registry = Registry(load_entry_points=False)
    for i in range(size):
        attrs = {
            "models": {f"model-{i}": f"Model {i}", f"shared-{i // GROUP}": "Shared"},
            "working": i % 3 != 0,  # a third not working: the route skips them, with a reason
            "priority": i % 5,
            "__module__": __name__,
        }
        registry.register(type(f"Gen{i:05d}", (Base,), attrs))
    model = f"shared-{(size // 2) // GROUP}"
    registry.route(model)
    return registry, model, (time.perf_counter_ns() - start) / 1e9


def bench_route(cfg: Config) -> list[Row]:
    built = {size: _registry_of(size) for size in cfg.route_sizes}
    sides = {}
    for size, (registry, model, _) in built.items():
        if not registry.route(model):
            raise BenchError(f"no candidate for {model} among {size} providers")
        sides[str(size)] = _per_call(lambda r=registry, m=model: r.route(m), cfg.route_calls)
    samples = alternate(sides, cfg.route_rounds)
    per = {size: samples.median(str(size)) for size in cfg.route_sizes}
    cpu = {size: samples.cpu_median(str(size)) for size in cfg.route_sizes}
    largest, smallest = max(per), min(per)
    spread = samples.ratio(str(largest), str(smallest))
    figures = ", ".join(f"{size:,}: {per[size] * 1e9:,.0f} ns" for size in cfg.route_sizes)
    builds = ", ".join(f"{size:,}: {b * 1e3:,.1f} ms" for size, (_, _, b) in built.items())
    met = per[largest] <= 2e-6 and spread <= 1.5
    notes = [
        f"each routed model has {GROUP} candidates (a third of all providers are not working, so the route "
        "skips some with a reason); the figure is a cached decision, rebuilt whenever the registry changes.",
        f"CPU time per call: {', '.join(f'{size:,}: {cpu[size] * 1e9:,.0f} ns' for size in cfg.route_sizes)}"
        + _oversubscribed(per[largest], cpu[largest]),
        f"registering, validating and indexing each registry, then the first route: {builds}.",
    ]
    # The uncached decision: what a registry change costs the next route of one model.
    registry, model, _ = built[largest]
    cold = []
    for _ in range(min(cfg.route_rounds, 7)):
        registry.router.routes_changed()
        start = time.perf_counter_ns()
        registry.route(model)
        cold.append((time.perf_counter_ns() - start) / 1e9)
    notes.append(f"uncached decision (plan cache cleared, index kept) at {largest:,}: {median(cold) * 1e6:,.1f} us.")
    # An alias over two targets, one of them a shared model: the same cached decision.
    registry.add_alias("bench-alias", [model, f"model-{largest // 2 + 1}"])
    if not registry.route("bench-alias"):
        raise BenchError("no candidate for the alias")
    aliased = alternate(
        {
            "model": _per_call(lambda: registry.route(model), cfg.route_calls),
            "alias": _per_call(lambda: registry.route("bench-alias"), cfg.route_calls),
        },
        cfg.route_rounds,
    )
    alias_time = aliased.median("alias")
    return [
        Row(
            "route decision, `registry.route(model)`",
            f"{figures}; {largest:,} / {smallest:,} = {spread:.2f}x",
            "the same call at 10 providers",
            "flat across sizes, <= 2 us at 10,000",
            met,
            notes,
        ),
        Row(
            "route decision with an alias",
            f"**{alias_time * 1e9:,.0f} ns** at {largest:,} providers ({aliased.ratio('alias', 'model'):.2f}x the "
            f"model id's {aliased.median('model') * 1e9:,.0f} ns)",
            "`registry.route(model)`, same registry",
            "<= 2 us at 10,000",
            alias_time <= 2e-6,
            [f"an alias of two targets ({GROUP + 1} candidates); the cached decision, as for a model id."],
        ),
    ]


def bench_overhead(cfg: Config) -> list[Row]:
    import provider_core
    from provider_core import AbstractProvider, Registry
    from provider_core.defaults import reset_registry
    from provider_core.messages import ValidatedMessages

    class Echo(AbstractProvider):
        url = "http://127.0.0.1/"
        working = True
        supports_stream = True
        models: ClassVar[dict[str, str]] = {"echo-1": "Echo"}

        @classmethod
        def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
            yield "Hello"
            yield ", world"

    plain = Registry(load_entry_points=False)
    plain.register(Echo)
    # two equal candidates, ordered per request by the "latency" strategy, or not at all
    strategies = {}
    with tempfile.TemporaryDirectory() as home:
        for strategy in ("priority", "latency"):
            path = Path(home) / f"{strategy}.toml"
            path.write_text(f'[routing]\nstrategy = "{strategy}"\n', encoding="utf-8")
            registry = Registry(load_entry_points=False, read_config=True, environ={"PROVIDER_CORE_CONFIG": str(path)})
            registry.register(Echo)
            registry.register(type("Echo2", (Echo,), {"__module__": __name__}))
            registry.routing_config()  # read the file now
            strategies[strategy] = registry
    # as get_registry() builds it: with the built-in circuit breaker, whose hooks run per request
    guarded = Registry(load_entry_points=False, builtins=True, environ={})
    guarded.register(Echo)
    undo = reset_registry(plain)
    checked = ValidatedMessages(MESSAGES)  # what the core hands a provider: no check in the way
    try:

        def direct() -> None:
            for _ in Echo.create_completion("echo-1", checked, True):
                pass

        def routed() -> None:
            for _ in provider_core.create_completion("echo-1", MESSAGES):
                pass

        def breaker() -> None:
            for _ in provider_core.create_completion("echo-1", MESSAGES, registry=guarded):
                pass

        def whole() -> None:
            provider_core.create_completion("echo-1", MESSAGES, stream=False, temperature=0.5)

        def by(strategy: str) -> Callable[[], None]:
            registry = strategies[strategy]

            def call() -> None:
                for _ in provider_core.create_completion("echo-1", MESSAGES, registry=registry):
                    pass

            return call

        for registry in (plain, guarded):
            if "".join(provider_core.create_completion("echo-1", MESSAGES, registry=registry)) != "Hello, world":
                raise BenchError("create_completion through routing returned the wrong text")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning per call would be overhead we hide
            samples = alternate(
                {
                    "direct": _per_call(direct, cfg.overhead_calls),
                    "routed": _per_call(routed, cfg.overhead_calls),
                    "breaker": _per_call(breaker, cfg.overhead_calls),
                    "whole": _per_call(whole, cfg.overhead_calls),
                    "priority": _per_call(by("priority"), cfg.overhead_calls),
                    "latency": _per_call(by("latency"), cfg.overhead_calls),
                },
                cfg.overhead_rounds,
            )
    finally:
        undo()
    over = samples.difference("routed", "direct")
    over_breaker = samples.difference("breaker", "direct")
    over_whole = samples.difference("whole", "direct")
    over_cpu = samples.cpu_difference("routed", "direct")
    latency = samples.difference("latency", "priority")
    return [
        Row(
            "per-request overhead, `create_completion` via routing",
            f"{over * 1e6:+.1f} us ({samples.median('routed') * 1e6:.1f} vs "
            f"{samples.median('direct') * 1e6:.1f} us); with the built-in circuit breaker "
            f"{over_breaker * 1e6:+.1f} us; stream=False with temperature {over_whole * 1e6:+.1f} us",
            "`Provider.create_completion` called directly",
            "<= 20 us",
            over <= 20e-6 and over_breaker <= 20e-6,
            [
                "an in-process provider yielding two chunks; the overhead covers message validation (pydantic), "
                "routing, the fallback wrapper and its per-chunk checks; with the breaker (as get_registry() "
                "builds a registry) also its two hooks per request, called without pluggy's dispatch "
                "(provider_core.hookcalls says why).",
                f"in CPU time: {over_cpu * 1e6:+.1f} us"
                + _oversubscribed(samples.median("routed"), samples.cpu_median("routed")),
            ],
        ),
        Row(
            "the latency strategy, per request",
            f"**{latency * 1e6:+.2f} us** ({samples.median('latency') * 1e6:.1f} vs "
            f"{samples.median('priority') * 1e6:.1f} us)",
            "the same two equal candidates under `priority`",
            "<= 2 us",
            latency <= 2e-6,
            [
                "ordering the candidates by their moving average of time to first chunk, and measuring it "
                "(requests in flight and the first chunk's time), on every request."
            ],
        ),
    ]
