"""The breaker behind routing: a provider that fails three times is skipped, `route` and
NoProviderAvailable say until when, one trial goes after the cooldown, route plans stay
cached, and the hooks routing calls report every attempt."""

from __future__ import annotations

import io
import json
import threading
import warnings
from contextlib import redirect_stderr, redirect_stdout

import pytest

import provider_core
from provider_core import create_completion, hookimpl
from provider_core.cli import main
from provider_core.defaults import reset_registry
from provider_core.errors import (
    FallbackWarning,
    InvalidMessages,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderNotWorkingWarning,
    StreamInterrupted,
)
from provider_core.health import Phase, get_breaker
from provider_core.health.breaker import format_clock
from provider_core.registry import Registry

USER = [{"role": "user", "content": "hi"}]


def down() -> ProviderConnectionError:
    return ProviderConnectionError("Flaky: connection refused (http://127.0.0.1:9/)", provider="Flaky", kind="refused")


def ask(registry, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        return "".join(create_completion("m", USER, registry=registry, **kwargs))


@pytest.fixture
def flaky_and_good(provider, make_registry):
    flaky, flaky_script = provider("Flaky", down(), priority=1)
    good, good_script = provider("Good", "good answer")
    registry, breaker = make_registry(flaky, good)
    return registry, breaker, flaky_script, good_script


def test_three_failures_and_routing_skips_the_provider_until_the_cooldown_ends(flaky_and_good, clock):
    registry, breaker, flaky, _good = flaky_and_good
    for _ in range(3):
        with pytest.warns(FallbackWarning, match="fell back to Good"):
            assert "".join(create_completion("m", USER, registry=registry)) == "good answer"
    assert flaky.calls == 3 and breaker.phase("Flaky") is Phase.OPEN
    assert [p.name for p in registry.route("m")] == ["Good"]
    (skip,) = registry.router.plan("m").skipped
    until = format_clock(clock.now + 60)
    assert skip.provider == "Flaky"
    assert skip.reason.startswith(f"circuit open until {until} (3 failures in a row; last: ProviderConnectionError")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)  # no more detours through Flaky
        assert ask(registry) == "good answer"
    assert flaky.calls == 3
    clock.advance(60)
    assert [p.name for p in registry.route("m")] == ["Flaky", "Good"]


def test_no_provider_available_says_until_when(provider, make_registry, clock):
    flaky, script = provider("Flaky", down())
    registry, _breaker = make_registry(flaky)
    for _ in range(3):
        with pytest.raises(ProviderConnectionError):
            ask(registry)
    with pytest.raises(NoProviderAvailable) as info:
        create_completion("m", USER, registry=registry)
    text = str(info.value)
    assert f"Flaky: circuit open until {format_clock(clock.now + 60)}" in text
    assert "provider='Flaky'" in text, "the hint says how to call it anyway"
    assert script.calls == 3


def test_cli_route_shows_the_open_circuit(flaky_and_good, clock):
    registry, _breaker, _, _ = flaky_and_good
    for _ in range(3):
        ask(registry)
    undo = reset_registry(registry)
    try:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            assert main(["route", "m"]) == 0
        assert f"skipped Flaky: circuit open until {format_clock(clock.now + 60)}" in out.getvalue()
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["route", "m", "--json"]) == 0
        data = json.loads(out.getvalue())
        assert [c["name"] for c in data["candidates"]] == ["Good"]
        assert data["skipped"][0]["reason"].startswith("circuit open until")
    finally:
        undo()


def test_after_the_cooldown_a_successful_trial_closes_the_circuit(provider, make_registry, clock):
    flaky, _script = provider("Flaky", down(), down(), down(), "back again")
    registry, breaker = make_registry(flaky)
    for _ in range(3):
        with pytest.raises(ProviderConnectionError):
            ask(registry)
    clock.advance(61)
    assert breaker.phase("Flaky") is Phase.HALF_OPEN
    assert ask(registry) == "back again"
    assert breaker.phase("Flaky") is Phase.CLOSED and breaker.state("Flaky").failures == 0


def test_a_failed_trial_reopens_the_circuit(provider, make_registry, clock):
    flaky, script = provider("Flaky", down())
    registry, breaker = make_registry(flaky)
    for _ in range(3):
        with pytest.raises(ProviderConnectionError):
            ask(registry)
    clock.advance(61)
    with pytest.raises(ProviderConnectionError):
        ask(registry)
    assert breaker.phase("Flaky") is Phase.OPEN and script.calls == 4
    with pytest.raises(NoProviderAvailable, match="circuit open until"):
        ask(registry)


def test_half_open_lets_one_trial_through_while_others_go_elsewhere(provider, make_registry, clock):
    release, entered = threading.Event(), threading.Event()

    def slow_gen():
        entered.set()
        assert release.wait(10), "the test never released the trial"
        yield "trial ok"

    flaky, script = provider("Flaky", down(), priority=1)
    good, _ = provider("Good", "good answer")
    registry, breaker = make_registry(flaky, good, PROVIDER_CORE_BREAKER_FAILURES="1")
    ask(registry)
    clock.advance(61)
    script.steps = [slow_gen]  # the trial: blocks until released
    first = create_completion("m", USER, registry=registry)
    second = create_completion("m", USER, registry=registry)  # routed before the trial started
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append("".join(first)), daemon=True)
    worker.start()
    assert entered.wait(10)
    with pytest.warns(FallbackWarning, match="Flaky: circuit half-open: a trial request is in flight"):
        assert "".join(second) == "good answer", "the trial is in flight: the second request went to Good"
    assert second.attempts[0].provider == "Flaky"
    assert "trial request is in flight" in second.attempts[0].reason
    assert "trial request is in flight" in registry.router.plan("m").skipped[0].reason
    release.set()
    worker.join(10)
    assert result == ["trial ok"] and first.provider == "Flaky"
    assert breaker.phase("Flaky") is Phase.CLOSED
    assert [p.name for p in registry.route("m")] == ["Flaky", "Good"]


@pytest.mark.parametrize(
    "error",
    [
        InvalidMessages([("temperature", "must be a number in [0, 2]")]),
        ProviderHTTPError(400, provider="Picky"),
        ProviderHTTPError(422, provider="Picky"),
    ],
    ids=["invalid-messages", "http-400", "http-422"],
)
def test_a_callers_bad_request_never_opens_the_circuit(provider, make_registry, error):
    picky, script = provider("Picky", error)
    registry, breaker = make_registry(picky, PROVIDER_CORE_BREAKER_FAILURES="1")
    for _ in range(5):
        with pytest.raises(type(error)):
            ask(registry)
    assert script.calls == 5 and breaker.phase("Picky") is Phase.CLOSED
    assert [p.name for p in registry.route("m")] == ["Picky"]


def test_a_named_provider_is_called_even_when_open_and_the_warning_says_why(provider, make_registry, clock):
    flaky, _script = provider("Flaky", down(), "fine now")
    registry, breaker = make_registry(flaky, PROVIDER_CORE_BREAKER_FAILURES="1")
    with pytest.raises(ProviderConnectionError):
        ask(registry)
    with pytest.warns(ProviderNotWorkingWarning, match="Flaky is circuit open until"):
        completion = create_completion("m", USER, provider="flaky", registry=registry)
    assert "".join(completion) == "fine now"
    assert breaker.phase("Flaky") is Phase.CLOSED, "its success closed the circuit"


def test_route_plans_stay_cached_and_follow_the_breaker(flaky_and_good, clock):
    registry, _breaker, _, _ = flaky_and_good
    assert registry.caches_routes is True, "the breaker notifies changes: plans stay cached"
    plan = registry.router.plan("m")
    assert registry.router.plan("m") is plan
    ask(registry)
    ask(registry)
    assert registry.router.plan("m") is plan, "a closed circuit with faults routes the same"
    ask(registry)
    opened = registry.router.plan("m")
    assert opened is not plan and [p.name for p in opened.candidates] == ["Good"]
    assert registry.router.plan("m") is opened
    clock.advance(59)
    assert registry.router.plan("m") is opened
    clock.advance(1)
    reopened = registry.router.plan("m")
    assert [p.name for p in reopened.candidates] == ["Flaky", "Good"], "the cached plan expired with the cooldown"


def test_a_plugin_without_notifies_changes_still_disables_the_cache(flaky_and_good):
    registry, _, _, _ = flaky_and_good

    class Opinion:
        @hookimpl
        def provider_working(self, provider):
            return None

    registry.add_plugin(Opinion(), "opinion")
    assert registry.caches_routes is False
    assert registry.router.plan("m") is not registry.router.plan("m")


class Recorder:
    def __init__(self):
        self.seen: list[tuple[str, str | None, float]] = []

    @hookimpl
    def provider_outcome(self, provider, error, elapsed):
        self.seen.append((provider.name, type(error).__name__ if error else None, elapsed))


def test_provider_outcome_reports_every_attempt(provider):
    flaky, _ = provider("Flaky", down(), priority=1)
    good, _ = provider("Good", "good answer")
    broken, _ = provider("Broken", ("half", ProviderConnectionError("reset", kind="reset")), models=("b",))
    registry = Registry(load_entry_points=False)
    for p in (flaky, good, broken):
        registry.register(p)
    recorder = Recorder()
    registry.add_plugin(recorder, "recorder")
    assert ask(registry) == "good answer"
    with pytest.raises(StreamInterrupted):
        "".join(create_completion("b", USER, registry=registry))
    names = [(n, e) for n, e, _ in recorder.seen]
    assert names == [
        ("Flaky", "ProviderConnectionError"),
        ("Good", None),
        ("Broken", None),
        ("Broken", "StreamInterrupted"),
    ]
    assert all(elapsed >= 0 for _, _, elapsed in recorder.seen)


def test_a_raising_health_hook_never_breaks_a_request(provider):
    good, _ = provider("Good", "good answer")
    registry = Registry(load_entry_points=False)
    registry.register(good)

    class Broken:
        @hookimpl
        def provider_outcome(self, provider, error, elapsed):
            raise RuntimeError("outcome hook bug")

        @hookimpl
        def provider_attempt(self, provider):
            raise RuntimeError("attempt hook bug")

    registry.add_plugin(Broken(), "broken-health")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert ask(registry) == "good answer"
    text = " ".join(registry.warnings())
    assert "provider_outcome hook raised RuntimeError: outcome hook bug" in text
    assert "provider_attempt hook raised RuntimeError: attempt hook bug" in text


def test_every_entry_point_registry_has_the_breaker_unless_turned_off():
    assert get_breaker(Registry(environ={"PROVIDER_CORE_PLUGINS": "aivvm"})) is not None
    assert get_breaker(Registry(environ={"PROVIDER_CORE_BREAKER": "off"})) is None
    isolated = Registry(load_entry_points=False)
    assert get_breaker(isolated) is None
    assert get_breaker(Registry(load_entry_points=False, builtins=True, environ={})) is not None


def test_the_breaker_is_listed_as_a_builtin_plugin_never_as_failed():
    registry = Registry(environ={"PROVIDER_CORE_PLUGINS": "aivvm"})
    (breaker,) = [info for info in registry.plugins() if info.status == "builtin"]
    assert breaker.to_dict() == {
        "name": "breaker",
        "distribution": "provider-core",
        "version": provider_core.__version__,
        "entry_point": "provider_core.health.plugin:BreakerPlugin",
        "status": "builtin",
        "providers": [],
        "errors": [],
        "warnings": [],
    }
    assert registry.plugins()[0] is breaker, "the core's own plugins load first"
    assert breaker not in registry.failed_plugins() and not breaker.failed
    off = Registry(environ={"PROVIDER_CORE_PLUGINS": "aivvm", "PROVIDER_CORE_BREAKER": "off"})
    assert [info.name for info in off.plugins() if info.status == "builtin"] == []
    assert [info.name for info in Registry(load_entry_points=False).plugins()] == []


def test_a_builtin_that_cannot_be_set_up_is_a_warning_not_a_failed_plugin():
    registry = Registry(load_entry_points=False, builtins=True, environ={})
    registry.add_plugin(object(), "breaker")  # takes the name before the registry loads
    with pytest.warns(RuntimeWarning, match="built-in plugins failed: ValueError: "):
        registry.load()
    assert get_breaker(registry) is None
    assert [info.status for info in registry.plugins()] == ["explicit"]
    assert registry.failed_plugins() == []


@pytest.mark.parametrize("installed", [False, True])
def test_cli_plugins_lists_the_breaker(installed, capsys):
    registry = Registry(load_entry_points=False, builtins=True, environ={})
    if installed:
        registry.add_plugin(hookimpl_plugin(), "mine")
    undo = reset_registry(registry)
    try:
        assert main(["plugins"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert main(["plugins", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
    finally:
        undo()
    assert ("no plugins installed" in lines) is not installed
    (row,) = [line.split() for line in lines if line.startswith("breaker ")]
    assert row == ["breaker", "provider-core", provider_core.__version__, "builtin", "-"]
    assert [(p["name"], p["status"]) for p in data["plugins"]][-1] == ("breaker", "builtin")


def hookimpl_plugin() -> object:
    class Mine:
        @hookimpl
        def provider_status(self, provider):
            return None

    return Mine()


def test_breaker_settings_come_from_the_registry_environment():
    registry = Registry(
        load_entry_points=False,
        builtins=True,
        environ={"PROVIDER_CORE_BREAKER_FAILURES": "7", "PROVIDER_CORE_BREAKER_COOLDOWN": "5"},
    )
    breaker = get_breaker(registry)
    assert breaker.config.failures == 7 and breaker.config.cooldown == 5


def test_outcomes_reach_every_plugin_next_to_the_breaker(provider, make_registry):
    flaky, _ = provider("Flaky", down(), priority=1)
    good, _ = provider("Good", "good answer")
    registry, breaker = make_registry(flaky, good, PROVIDER_CORE_BREAKER_FAILURES="1")
    recorder = Recorder()
    registry.add_plugin(recorder, "recorder")
    assert ask(registry) == "good answer"
    assert [(n, e) for n, e, _ in recorder.seen] == [("Flaky", "ProviderConnectionError"), ("Good", None)]
    assert breaker.phase("Flaky") is Phase.OPEN


def test_a_provider_whose_streams_always_break_still_opens(provider, make_registry, clock):
    cut = ProviderConnectionError("reset by peer", provider="Breaks", kind="reset")
    breaks, script = provider("Breaks", ("some text", cut), priority=1)
    good, _ = provider("Good", "good answer")
    registry, breaker = make_registry(breaks, good)
    for n in (1, 2, 3):
        with pytest.raises(StreamInterrupted):
            "".join(create_completion("m", USER, registry=registry))
        # a fault inside the stream belongs to the model: its circuit counts it
        assert breaker.state("Breaks", "m").failures == n, "each first chunk's success is undone by the break"
    assert breaker.phase("Breaks", "m") is Phase.OPEN and breaker.phase("Breaks") is Phase.CLOSED
    assert "last: ProviderConnectionError: reset by peer" in breaker.reason("Breaks", "m")
    assert ask(registry) == "good answer" and script.calls == 3


def test_a_completed_stream_ends_the_streak(provider, make_registry):
    cut = ProviderConnectionError("reset by peer", provider="Sometimes", kind="reset")
    sometimes, _ = provider("Sometimes", ("some", cut), ("some", cut), "a whole reply", "another one", ("x", cut))
    registry, breaker = make_registry(sometimes)
    for _ in range(2):
        with pytest.raises(StreamInterrupted):
            ask(registry)
    assert ask(registry) == "a whole reply"
    assert ask(registry) == "another one"
    with pytest.raises(StreamInterrupted):
        ask(registry)
    assert breaker.state("Sometimes", "m").failures == 1 and breaker.phase("Sometimes", "m") is Phase.CLOSED
