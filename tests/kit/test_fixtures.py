"""The fixtures the pytest plugin gives every test suite: isolated_registry,
registry_with_plugins, use_registry, loopback_server (all used here as an author would)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import provider_core
from provider_core.defaults import get_registry
from provider_core.registry import Registry
from provider_core.streaming import iter_text
from provider_core.testing import LoopbackServer, Reply, load_only
from provider_core.transport import stream_post


def test_isolated_registry_is_empty_and_loads_nothing(isolated_registry: Registry) -> None:
    assert len(isolated_registry) == 0
    assert isolated_registry.plugins() == []
    assert isolated_registry.providers() == []


def test_registry_with_plugins_loads_only_the_named_entry_points(
    registry_with_plugins: Callable[..., Registry],
) -> None:
    pytest.importorskip("provider_aivvm", reason="the Aivvm plugin is not installed")
    registry = registry_with_plugins("AIVVM")
    statuses = {info.name: info.status for info in registry.plugins() if info.status != "builtin"}
    assert statuses["aivvm"] == "loaded"
    assert all(status == "disabled" for name, status in statuses.items() if name != "aivvm")
    assert [p.name for p in registry.providers()] == ["Aivvm"]


def test_registry_with_plugins_refuses_unknown_names() -> None:
    with pytest.raises(
        LookupError, match=r"no provider_core entry point named 'no-such-plugin' is installed \(installed: "
    ):
        load_only("no-such-plugin")
    with pytest.raises(LookupError, match=r"named 'breaker' is installed") as refused:
        load_only("breaker")  # the built-in breaker is in every such registry, but it is no entry point
    assert "breaker" not in str(refused.value).split("(installed: ")[1]
    with pytest.raises(ValueError, match="name at least one entry point"):
        load_only()


def test_use_registry_installs_and_restores(use_registry: Callable[[Registry], Registry]) -> None:
    before = get_registry()
    mine = use_registry(Registry(load_entry_points=False))
    assert get_registry() is mine
    use_registry(Registry(load_entry_points=False))
    assert get_registry() is not mine and get_registry() is not before


def test_loopback_server_replays_scripted_chunks(loopback_server: LoopbackServer) -> None:
    loopback_server.enqueue(Reply(body=["Hel", "lo ", "wörld".encode()[:3], "wörld".encode()[3:]]))
    text = "".join(iter_text(stream_post("kit", loopback_server.url + "/chat", json={"q": 1})))
    assert text == "Hello wörld"
    (request,) = loopback_server.requests
    assert (request.method, request.path, request.json) == ("POST", "/chat", {"q": 1})


def test_loopback_server_scripts_faults(loopback_server: LoopbackServer) -> None:
    loopback_server.enqueue(Reply(503, body="busy", framing="length"))
    with pytest.raises(provider_core.ProviderHTTPError) as info:
        list(stream_post("kit", loopback_server.url + "/chat", json={}))
    assert info.value.status_code == 503
    url = loopback_server.url
    loopback_server.stop()
    with pytest.raises(provider_core.ProviderConnectionError):
        list(stream_post("kit", url + "/chat", json={}, timeout=5))
