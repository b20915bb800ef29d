"""The latency strategy's figures shared through Redis: what one process measured orders the
candidates of another. The exchanges are called directly (the plugin's thread does the same
every sync interval): no waiting, no clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from provider_core import AbstractProvider, Registry, create_completion
from provider_core.health.latency import LatencyPlugin
from provider_core.health.plugin import get_breaker

USER = [{"role": "user", "content": "hi"}]


class _Base(AbstractProvider):
    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    models: ClassVar = {"m": "M"}

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        yield cls.name


class Alpha(_Base):
    pass


class Beta(_Base):
    pass


@pytest.fixture
def process() -> Iterator[Callable[[str, str, Path], tuple[Registry, LatencyPlugin]]]:
    """``process(redis_url, prefix, config)``: a registry as a gateway process builds it (the
    breaker and the latency plugin on Redis); their sync threads stop when the test ends."""
    made: list[tuple[Registry, LatencyPlugin]] = []

    def make(redis_url: str, prefix: str, config: Path) -> tuple[Registry, LatencyPlugin]:
        env = {
            "PROVIDER_CORE_REDIS_URL": redis_url,
            "PROVIDER_CORE_REDIS_PREFIX": prefix,
            "PROVIDER_CORE_CONFIG": str(config),
        }
        registry = Registry(load_entry_points=False, builtins=True, read_config=True, environ=env)
        registry.register(Alpha)
        registry.register(Beta)
        plugin = registry.plugin_manager.get_plugin("latency")
        assert isinstance(plugin, LatencyPlugin)
        made.append((registry, plugin))
        return registry, plugin

    yield make
    for registry, plugin in made:
        plugin.close()
        breaker = get_breaker(registry)
        if breaker is not None:
            breaker.backend.close()


def order(registry: Registry) -> list[str]:
    return [p.name for p in registry.router.order(registry.router.plan("m"))[0]]


def test_what_one_process_measured_orders_another(redis_url, tmp_path, process):
    config = tmp_path / "config.toml"
    config.write_text('[routing]\nstrategy = "latency"\n', encoding="utf-8")
    prefix = f"pc-latency-{uuid.uuid4().hex[:8]}"
    first, first_plugin = process(redis_url, prefix, config)
    second, second_plugin = process(redis_url, prefix, config)

    first_plugin.provider_outcome(Alpha, "m", None, 0.900)  # as the fallback loop reports them
    first_plugin.provider_outcome(Beta, "m", None, 0.050)
    assert first_plugin.exchange() and second_plugin.exchange()
    assert second_plugin.provider_latency(Beta, "m") == 0.050
    assert order(second) == ["Beta", "Alpha"]  # it measured nothing itself
    assert create_completion("m", USER, stream=False, registry=second) == "Beta"

    for _ in range(6):  # the second process now sees Beta slow down, and says so
        second_plugin.provider_outcome(Beta, "m", None, 5.0)
    assert second_plugin.exchange() and first_plugin.exchange()
    assert order(first) == ["Alpha", "Beta"]
    assert [p.name for p in first.plugins() if p.status == "builtin"] == ["breaker", "latency"]


def test_redis_unreachable_keeps_the_process_figures(tmp_path, process):
    config = tmp_path / "config.toml"
    config.write_text('[routing]\nstrategy = "latency"\n', encoding="utf-8")
    registry, plugin = process("redis://127.0.0.1:9/0", "pc-latency-down", config)
    plugin.provider_outcome(Alpha, "m", None, 0.9)
    plugin.provider_outcome(Beta, "m", None, 0.1)
    assert plugin.exchange() is False  # one warning in the log, no exception
    with pytest.warns(RuntimeWarning, match="circuits are kept in this process"):  # the breaker's, documented
        assert order(registry) == ["Beta", "Alpha"]
