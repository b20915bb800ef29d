"""``SlowWatch``: the plugin that is still loading after the threshold is named once, and
only then (the watcher is not woken at each plugin's start: see provider_core.isolation)."""

from __future__ import annotations

import threading

from provider_core.isolation import SlowWatch

WAIT = 30.0  # a generous bound on a busy machine; the events end the waits long before


class Warnings:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.arrived = {name: threading.Event() for name in "abc"}

    def __call__(self, name: str, seconds: float) -> None:
        self.names.append(name)
        self.arrived[name].set()


def test_the_plugin_loading_past_the_threshold_is_named_once():
    warned = Warnings()
    with SlowWatch(0.05, warned) as watch:
        watch.loading("a")
        watch.loading("b")  # started while the watcher waits for a's deadline
        assert warned.arrived["b"].wait(WAIT)
        watch.loading("c")  # the watcher is idle after warning: this start must wake it
        assert warned.arrived["c"].wait(WAIT)
    assert warned.names.count("b") == 1 and warned.names.count("c") == 1
    assert warned.names[-2:] == ["b", "c"]


def test_nothing_is_said_for_plugins_that_finish_in_time():
    warned = Warnings()
    with SlowWatch(3600.0, warned) as watch:
        for name in "abc":
            watch.loading(name)
        watch.loading(None)
    assert warned.names == []


def test_plugins_loading_in_time_do_not_wake_the_watcher(monkeypatch):
    """Waking the watcher at every plugin's start cost a thread switch per plugin, a third
    of what each installed plugin added to a CLI start (bench: start-up with 100 plugins)."""
    notified = []

    class Counting(threading.Condition):
        def notify(self, n: int = 1) -> None:
            notified.append(n)
            super().notify(n)

    warned = Warnings()
    with monkeypatch.context() as patch:  # only the watch's own condition counts (not the thread's)
        patch.setattr(threading, "Condition", Counting)
        watch = SlowWatch(3600.0, warned)
    with watch:
        for number in range(100):
            watch.loading(f"plugin-{number}")
        watch.loading(None)
    assert len(notified) <= 2  # at most the first start and the close
    assert warned.names == []
