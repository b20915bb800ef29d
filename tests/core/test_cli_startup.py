"""The console script's start-up runs without the garbage collector, and the command's own
work with it (provider_core.cli.startup); ``main()`` leaves the collector alone. And what a
start-up writes: JSON output in one write."""

from __future__ import annotations

import gc
import io
import json

import pytest

from provider_core.cli import startup
from provider_core.cli.output import print_json

CONSOLE = """
import atexit, gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info["generation"]))
state = {}

def report():
    print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "collections": collections,
                      "loaded": state.get("loaded")}), file=sys.stderr)

atexit.register(report)
sys.argv = ["provider-core", *ARGS]
from provider_core.cli import output
original = output.registry

def registry():
    found = original()
    state["loaded"] = {"enabled": gc.isenabled(), "collections": list(collections)}
    return found

output.registry = registry
from provider_core.__main__ import run
collections.clear()  # from here on: the console script's run
run()
"""


def _console(run_python, *args: str) -> dict:
    proc = run_python(CONSOLE.replace("ARGS", repr(list(args))))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_a_command_starts_without_collections_and_works_with_the_collector_on(run_python):
    seen = _console(run_python, "providers", "--json")
    assert seen["loaded"] == {"enabled": True, "collections": []}, "no collection until the registry was loaded"
    assert seen["frozen"] > 1000, "the start-up's objects were frozen (at the end of start-up, and at exit)"


def test_a_command_without_a_registry_runs_to_its_end_without_collections(run_python):
    seen = _console(run_python, "--version")
    assert seen["loaded"] is None and seen["collections"] == [] and not seen["enabled"]


@pytest.fixture
def collector():
    """The test process's collector as it was, afterwards."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    startup.ended()
    (gc.enable if enabled else gc.disable)()


def test_ending_the_start_up_freezes_once_and_turns_the_collector_on(collector):
    assert not startup.ended() and not startup.in_progress(), "nothing to end: main() leaves the collector alone"
    gc.disable()
    startup.began()
    assert startup.in_progress() and not gc.isenabled()
    assert startup.ended()
    assert gc.isenabled() and gc.get_freeze_count() > 0 and not startup.in_progress()
    assert not startup.ended(), "a second end does nothing"


def test_beginning_with_the_collector_on_is_no_start_up_to_end(collector):
    gc.enable()
    startup.began()
    assert not startup.in_progress() and not startup.ended()


def test_main_leaves_the_collector_alone(collector, capsys, default_registry):
    from provider_core.cli import main

    gc.disable()
    assert main(["providers", "--json"]) == 0
    assert not gc.isenabled() and gc.get_freeze_count() == 0


class _CountingStream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_json_output_is_one_write():
    """An unbuffered stdout (PYTHONUNBUFFERED) makes every write a system call: the JSON
    document of a hundred providers is written once, not token by token."""
    stream = _CountingStream()
    data = {"providers": [{"name": f"P{n}", "models": ["a", "b"], "working": True} for n in range(100)]}
    print_json(data, stream)
    assert stream.writes == 1
    assert json.loads(stream.getvalue()) == data and stream.getvalue().endswith("}\n")
