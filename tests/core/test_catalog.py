"""The model catalog: live lists fetched by the fetch_models hook into the on-disk cache,
plugins registered again from it, what is due and when, on demand and in the background,
and warnings that are not failures. The plugin here is in-process; its "service" is a dict
(the OpenAI plugin's tests fetch over real sockets)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from provider_core import AbstractProvider, cli, create_completion, hookimpl
from provider_core.catalog import DEFAULT_MAX_AGE, ModelCatalog, refresh_interval
from provider_core.defaults import reset_registry
from provider_core.errors import ModelNotSupported, ProviderError, ProviderNotFound
from provider_core.modelcache import ModelEntry, cached_models, default_cache, entry_key, list_problem
from provider_core.registry import Registry
from provider_core.secrets import remember

URL = "http://live.example/v1"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


class LivePlugin:
    """Providers whose models live on a service (``upstream``: name -> list, or an exception
    to raise, or an Event to wait for); registration reads the cache, as the hook says."""

    def __init__(self, *names: str) -> None:
        self.upstream: dict[str, Any] = {name: ["a"] for name in names or ("live",)}
        self.fetched: list[str] = []
        self.max_age: float | None = None
        self.warnings: list[str] = []

    @hookimpl
    def register_providers(self, register, warn):
        for text in self.warnings:
            warn(text)
        for name in self.upstream:
            entry = cached_models(name, URL)
            problem = list_problem(name, entry)
            attrs = {
                "url": URL,
                "working": problem is None,
                "status_reason": problem,
                "supports_stream": True,
                "models": {m: m for m in entry.models} if entry else {},
                "create_completion": classmethod(
                    lambda cls, model, messages, stream, **kw: iter([f"{cls.name}:{model}"])
                ),
            }
            register(type(name, (AbstractProvider,), attrs))

    @hookimpl
    def fetch_models(self, provider):
        if provider.name not in self.upstream:
            return None
        self.fetched.append(provider.name)
        answer = self.upstream[provider.name]
        if isinstance(answer, threading.Event):
            answer.wait(20)
            return ["late"]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    @hookimpl
    def models_max_age(self, provider):
        return self.max_age


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def live_registry(plugin: LivePlugin, *extra: type, **environ: str) -> Registry:
    registry = Registry(load_entry_points=False, environ=environ)
    registry.add_plugin(plugin, "live")
    for cls in extra:
        registry.register(cls)
    return registry


def test_a_refresh_stores_the_list_and_the_plugin_registers_again():
    plugin = LivePlugin()
    registry = live_registry(plugin)
    before = registry.get("live")
    assert (before.working, dict(before.models)) == (False, {})
    assert before.status_reason == "model list not fetched yet ('provider-core refresh live' fetches it)"

    (result,) = registry.catalog.refresh()
    assert result.to_dict() == {"provider": "live", "status": "updated", "models": 1, "error": None}
    after = registry.get("live")
    assert after is not before and (after.working, list(after.models)) == (True, ["a"])
    assert registry.plugins()[0].providers == ["live"]
    entry = default_cache().entries()[entry_key("live", URL)]
    assert (entry.models, entry.error) == (("a",), None)

    assert registry.catalog.refresh()[0].status == "unchanged"
    assert registry.get("live") is after, "an unchanged list registers nothing again"
    plugin.upstream["live"] = ["a", "b"]
    assert registry.catalog.refresh()[0].status == "updated"
    assert [p.name for p in registry.route("b")] == ["live"]
    assert plugin.fetched == ["live", "live", "live"]


def test_a_failed_fetch_keeps_the_last_list_and_says_why_without_the_secret():
    remember("sk-live-secret-123456")
    plugin = LivePlugin()
    registry = live_registry(plugin)
    registry.catalog.refresh()
    plugin.upstream["live"] = ProviderError("connection refused (http://live.example/v1/models) sk-live-secret-123456")
    (result,) = registry.catalog.refresh()
    assert (result.status, result.models) == ("failed", 1)
    assert result.error == "connection refused (http://live.example/v1/models) [redacted]"
    cls = registry.get("live")
    assert (cls.working, list(cls.models)) == (False, ["a"])
    assert cls.status_reason.startswith("model list unavailable: connection refused")
    assert "showing the list fetched" in cls.status_reason
    plugin.upstream["live"] = RuntimeError("a bug")
    assert registry.catalog.refresh()[0].error == "fetch_models raised RuntimeError: a bug"
    plugin.upstream["live"] = ["a"]
    assert registry.catalog.refresh()[0].status == "updated"  # the problem went away
    assert registry.get("live").working


@pytest.mark.parametrize(("answer", "why"), [([], "the service lists no models"), ("abc", "returned str")])
def test_a_wrong_answer_is_a_failed_fetch(answer, why):
    plugin = LivePlugin()
    plugin.upstream["live"] = answer
    (result,) = live_registry(plugin).catalog.refresh()
    assert result.status == "failed" and why in result.error


def test_providers_whose_plugin_fetches_nothing_are_asked_once(make_provider):
    plugin = LivePlugin()
    registry = live_registry(plugin, make_provider("Fixed", models=("x", "y")))
    results = {r.provider: (r.status, r.models) for r in registry.catalog.refresh()}
    assert results == {"live": ("updated", 1), "Fixed": ("static", 2)}
    assert not registry.catalog.needs_refresh(registry.get("Fixed"))
    assert registry.catalog.refresh(stale_only=True) == [], "nothing is due"
    assert registry.get("Fixed").models == {"x": "X", "y": "Y"}


def test_names_choose_what_is_refreshed_and_a_typo_is_caught():
    plugin = LivePlugin("one", "two")
    registry = live_registry(plugin)
    assert [r.provider for r in registry.catalog.refresh(["TWO"])] == ["two"]
    assert plugin.fetched == ["two"]
    with pytest.raises(ProviderNotFound) as info:
        registry.catalog.refresh(["tow"])
    assert info.value.suggestions == ["two"]


def test_a_fetch_that_hangs_is_given_up_after_the_timeout():
    gate = threading.Event()
    plugin = LivePlugin()
    plugin.upstream["live"] = gate
    registry = live_registry(plugin)
    try:
        (result,) = registry.catalog.refresh(timeout=0.2)
    finally:
        gate.set()
    assert (result.status, result.error) == ("failed", "no answer within 0.2 s")


def test_lists_go_stale_after_their_max_age():
    plugin = LivePlugin()
    registry = live_registry(plugin)
    clock = Clock()
    catalog = ModelCatalog(registry, clock=clock)
    catalog.refresh()
    live = registry.get("live")
    assert not catalog.needs_refresh(live)
    clock.now += DEFAULT_MAX_AGE - 1
    assert not catalog.needs_refresh(live)
    clock.now += 1
    assert catalog.needs_refresh(live)
    plugin.max_age = 0  # always stale (a local server)
    clock.now = 1000.0
    assert catalog.needs_refresh(live)


def test_an_unknown_model_refreshes_due_lists_at_most_once_per_interval():
    plugin = LivePlugin()
    registry = live_registry(plugin)
    monotonic = Clock()
    catalog = ModelCatalog(registry, {"PROVIDER_CORE_REFRESH_INTERVAL": "30"}, monotonic=monotonic)
    assert catalog.interval == 30.0
    plugin.upstream["live"] = ["a", "new"]
    assert catalog.refresh_for_model("new") is True  # never fetched: due
    assert [p.name for p in registry.route("new")] == ["live"]
    plugin.max_age = 0
    plugin.upstream["live"] = ["a", "new", "newer"]
    assert catalog.refresh_for_model("newer") is False, "within the interval"
    monotonic.now += 30
    assert catalog.refresh_for_model("newer") is True
    assert plugin.fetched == ["live", "live"]
    plugin.max_age = None  # fresh for an hour: nothing is due, nothing is fetched
    monotonic.now += 30
    assert catalog.refresh_for_model("typo") is False
    assert plugin.fetched == ["live", "live"]
    assert catalog.may_refresh_now(), "a refresh with nothing due does not use up the interval"


def test_create_completion_refreshes_for_an_unknown_model(make_provider):
    plugin = LivePlugin()
    registry = live_registry(plugin)
    assert "".join(create_completion("a", USER, registry=registry)) == "live:a"  # first call: fetched
    plugin.upstream["live"] = ["a", "b"]
    with pytest.raises(ModelNotSupported):  # within the interval (and fresh for an hour): not fetched again
        create_completion("b", USER, registry=registry)
    plugin.max_age = 0
    registry2 = live_registry(plugin)  # a new process: a new interval
    assert create_completion("b", USER, registry=registry2, stream=False) == "live:b"
    assert create_completion("b", USER, registry=registry2, provider="live", stream=False) == "live:b"
    assert plugin.fetched == ["live", "live"]


def test_a_model_id_that_cannot_be_one_fetches_nothing():
    plugin = LivePlugin()
    registry = live_registry(plugin)
    with pytest.raises(ModelNotSupported, match="control characters"):
        create_completion("bad\x07id", USER, registry=registry)
    assert plugin.fetched == []


def test_another_process_refresh_is_picked_up():
    writer, reader = LivePlugin(), LivePlugin()
    first, second = live_registry(writer), live_registry(reader)
    assert second.catalog.pick_up() == []
    writer.upstream["live"] = ["a", "b"]
    first.catalog.refresh()
    assert list(second.get("live").models) == [], "not yet"
    assert second.catalog.pick_up() == ["live"]
    assert list(second.get("live").models) == ["a", "b"]
    assert reader.fetched == [], "the reader fetched nothing itself"
    assert second.catalog.pick_up() == [], "nothing new"


def test_a_background_tick_picks_up_then_refreshes_what_is_due(make_provider):
    plugin = LivePlugin("due", "fresh")
    registry = live_registry(plugin, make_provider("Fixed"))
    now = 5000.0
    default_cache().update({entry_key("fresh", URL): ModelEntry(("f",), now, None, now)})
    results = ModelCatalog(registry, clock=lambda: now + 10).tick()
    assert {r.provider: r.status for r in results} == {"due": "updated", "Fixed": "static"}
    assert plugin.fetched == ["due"]
    assert list(registry.get("fresh").models) == ["f"], "picked up from the cache"


def test_reloading_touches_only_the_plugins_named(make_provider):
    plugin = LivePlugin()
    registry = live_registry(plugin, make_provider("Fixed"))
    fixed = registry.get("Fixed")
    assert registry.reload_plugins(["nope"]) == []
    assert registry.reload_plugins(["live"]) == ["live"]
    assert registry.get("Fixed") is fixed
    assert sorted(p.name for p in registry.providers()) == ["Fixed", "live"]


def test_warnings_are_not_failures():
    plugin = LivePlugin()
    plugin.warnings = ["endpoint 'x' left out: bad base_url", "endpoint 'y' left out: bad timeout"]
    registry = live_registry(plugin)
    (info,) = registry.plugins()
    assert (info.status, info.label, info.errors) == ("explicit", "explicit (2 warnings)", [])
    assert info.warnings == plugin.warnings
    assert registry.failed_plugins() == []
    registry.catalog.refresh()  # registered again: the warnings are not doubled
    assert registry.plugins()[0].warnings == plugin.warnings


def test_the_refresh_interval_comes_from_the_environment():
    assert refresh_interval({}) == 60.0
    assert refresh_interval({"PROVIDER_CORE_REFRESH_INTERVAL": "0.5"}) == 0.5
    with pytest.warns(UserWarning, match="not a positive number"):
        assert refresh_interval({"PROVIDER_CORE_REFRESH_INTERVAL": "-3"}) == 60.0


# -- the CLI over the catalog -------------------------------------------------------------------


@pytest.fixture
def as_default():
    undos = []

    def install(registry: Registry) -> Registry:
        undos.append(reset_registry(registry))
        return registry

    yield install
    for undo in reversed(undos):
        undo()


def test_the_refresh_command_reports_each_provider(as_default, make_provider, capsys, private_cache):
    plugin = LivePlugin("good", "down")
    plugin.upstream["down"] = ProviderError("connection refused (http://live.example/v1/models)")
    as_default(live_registry(plugin, make_provider("Fixed")))
    assert cli.main(["refresh"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in out[1:4]] == [
        ["down", "failed", "0"],
        ["Fixed", "static", "1"],
        ["good", "updated", "1"],
    ]
    assert out[1].endswith("connection refused (http://live.example/v1/models)")
    assert out[-1] == f"cache: {private_cache / 'models.json'}"
    assert cli.main(["refresh", "good", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "ok": True,
        "cache": str(private_cache / "models.json"),
        "results": [{"provider": "good", "status": "unchanged", "models": 1, "error": None}],
    }


def test_the_plugins_command_counts_warnings(as_default, capsys):
    plugin = LivePlugin()
    plugin.warnings = ["endpoint 'x' left out: bad base_url"]
    as_default(live_registry(plugin))
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "explicit (1 warning)" in out
    assert "  live: warning: endpoint 'x' left out: bad base_url" in out
    assert cli.main(["plugins", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["plugins"]
    assert (record["label"], record["warnings"]) == ("explicit (1 warning)", plugin.warnings)
