"""The registry in-process: registration, lookup, duplicates, filters, the provider_working
hook, and in-process plugins (entry-point discovery is in test_discovery.py)."""

from __future__ import annotations

import types
import warnings

import pytest

from provider_core import (
    DuplicateProviderWarning,
    ProviderContractError,
    ProviderNotFound,
    Registry,
    get_registry,
    hookimpl,
)
from provider_core.defaults import reset_registry
from provider_core.registry import EXPLICIT


def _plugin(**hooks) -> types.SimpleNamespace:
    """A plugin object whose attributes are the given hook implementations."""
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_isolated_registry_starts_empty(registry):
    assert len(registry) == 0
    assert registry.providers() == []
    assert registry.models() == {}
    assert registry.plugins() == [] and registry.failed_plugins() == []


def test_register_returns_the_class_and_works_as_a_decorator(registry, make_provider):
    cls = make_provider("Alpha")
    assert registry.register(cls) is cls

    @registry.register
    class Beta(cls):
        name = "Beta"

    assert registry.get("beta") is Beta


@pytest.mark.parametrize("spelling", ["MixedCase", "mixedcase", "MIXEDCASE", "mIxEdCaSe"])
def test_get_is_case_insensitive(registry, make_provider, spelling):
    cls = registry.register(make_provider("MixedCase"))
    assert registry.get(spelling) is cls
    assert spelling in registry


def test_get_unknown_names_the_installed_ones(registry, make_provider):
    registry.register(make_provider("Zeta"))
    registry.register(make_provider("Alpha"))
    with pytest.raises(ProviderNotFound) as info:
        registry.get("Gamma")
    assert info.value.known == ["Alpha", "Zeta"]
    assert "'Gamma'" in str(info.value) and "Alpha, Zeta" in str(info.value)
    assert isinstance(info.value, LookupError)
    with pytest.raises(ProviderNotFound):
        registry.get(42)  # type: ignore[arg-type]
    assert 42 not in registry


def test_duplicate_name_keeps_the_first_and_warns(registry, make_provider):
    first = registry.register(make_provider("Dup", url="first"))
    second = make_provider("DUP", url="second")
    with pytest.warns(DuplicateProviderWarning, match="registered twice"):
        assert registry.register(second) is second
    assert registry.get("dup") is first
    assert len(registry) == 1
    assert any("Dup" in w and "registered twice" in w for w in registry.warnings())


def test_duplicate_winner_is_deterministic_across_registries(make_provider):
    a, b = make_provider("Same", url="a"), make_provider("Same", url="b")
    winners = set()
    for _ in range(3):
        reg = Registry(load_entry_points=False)
        with pytest.warns(DuplicateProviderWarning):
            reg.add_plugin(_plugin(register_providers=lambda register: register(a)), "plugin_a")
            reg.add_plugin(_plugin(register_providers=lambda register: register(b)), "plugin_b")
        winners.add(reg.get("same").url)
    assert winners == {"a"}


def test_duplicate_is_shown_on_both_plugins(registry, make_provider):
    a, b = make_provider("Same", url="a"), make_provider("Same", url="b")
    with pytest.warns(DuplicateProviderWarning):
        registry.add_plugin(_plugin(register_providers=lambda register: register(a)), "plugin_a")
        info_b = registry.add_plugin(_plugin(register_providers=lambda register: register(b)), "plugin_b")
    info_a = next(i for i in registry.plugins() if i.name == "plugin_a")
    assert info_a.providers == ["Same"] and info_b.providers == []
    for info in (info_a, info_b):
        assert len(info.warnings) == 1
        assert "keeping" in info.warnings[0] and "plugin_a" in info.warnings[0] and "plugin_b" in info.warnings[0]
    assert registry.origin("same") == "plugin_a"


def test_re_registering_the_same_class_is_silent(registry, make_provider):
    cls = make_provider("Once")
    registry.register(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.register(cls)
    assert len(registry) == 1 and registry.warnings() == []


def test_replace_swaps_the_class(registry, make_provider):
    registry.register(make_provider("Swap", url="old"))
    new = registry.register(make_provider("Swap", url="new"), replace=True)
    assert registry.get("swap") is new
    assert registry.providers(model="m") == [new]


def test_unregister(registry, make_provider):
    cls = registry.register(make_provider("Gone"))
    assert registry.unregister("GONE") is cls
    assert "Gone" not in registry and registry.models() == {}
    with pytest.raises(ProviderNotFound):
        registry.unregister("Gone")


def test_providers_filters(registry, make_provider):
    a = registry.register(make_provider("A", models=["m1", "m2"]))
    b = registry.register(make_provider("B", models=["m2"], working=False))
    c = registry.register(make_provider("C", models=["m2", "m3"], supports_stream=False))
    assert registry.providers() == [a, b, c]
    assert registry.providers(working=True) == [a, c]
    assert registry.providers(working=False) == [b]
    assert registry.providers(model="m2") == [a, b, c]
    assert registry.providers(model="m1") == [a]
    assert registry.providers(model="nope") == []
    assert registry.providers(stream=True) == [a, b]
    assert registry.providers(stream=False) == [c]
    assert registry.providers(working=True, model="m2", stream=True) == [a]


def test_providers_are_sorted_by_name_case_insensitively(registry, make_provider):
    for name in ["delta", "Bravo", "alpha", "Charlie"]:
        registry.register(make_provider(name))
    assert [p.name for p in registry.providers()] == ["alpha", "Bravo", "Charlie", "delta"]


def test_models_maps_each_model_to_providers_in_routing_order(registry, make_provider):
    registry.register(make_provider("Low", models=["x", "y"]))
    registry.register(make_provider("High", models=["y"], priority=10))
    registry.register(make_provider("Mid", models=["y"], working=False))
    assert registry.models() == {"x": ["Low"], "y": ["High", "Low", "Mid"]}
    assert list(registry.models()) == ["x", "y"]


def test_index_is_rebuilt_after_register(registry, make_provider):
    registry.register(make_provider("First", models=["m"]))
    assert registry.models() == {"m": ["First"]}
    registry.register(make_provider("Second", models=["m", "n"]))
    assert registry.models() == {"m": ["First", "Second"], "n": ["Second"]}


# -- the provider_working hook ----------------------------------------------------------------


def test_working_hook_overrides_the_static_flag(registry, make_provider):
    up = registry.register(make_provider("StaticDown", working=False))
    down = registry.register(make_provider("StaticUp", working=True))
    calm = registry.register(make_provider("NoOpinion", working=True))
    answers = {"StaticDown": True, "StaticUp": False}
    registry.add_plugin(_plugin(provider_working=lambda provider: answers.get(provider.name)), "health")
    assert registry.is_working(up) is True
    assert registry.is_working(down) is False
    assert registry.is_working(calm) is True  # None = no opinion: the static flag decides
    assert registry.providers(working=True) == [calm, up]
    assert registry.caches_routes is False


def test_working_hook_is_read_on_every_query(registry, make_provider):
    cls = registry.register(make_provider("Flaky"))
    state = {"up": True}
    registry.add_plugin(_plugin(provider_working=lambda provider: state["up"]), "health")
    assert registry.providers(working=True) == [cls]
    state["up"] = False
    assert registry.providers(working=True) == []


def test_raising_working_hook_is_recorded_not_fatal(registry, make_provider):
    cls = registry.register(make_provider("Steady", working=True))

    def broken(provider):
        raise ZeroDivisionError("health check crashed")

    registry.add_plugin(_plugin(provider_working=broken), "badhealth")
    with pytest.warns(RuntimeWarning, match="provider_working hook raised ZeroDivisionError"):
        assert registry.is_working(cls) is True
    assert registry.providers(working=True) == [cls]  # recorded once, no second warning needed
    assert sum("health check crashed" in w for w in registry.warnings()) == 1


def test_without_hooks_routing_is_not_dynamic(registry, make_provider):
    registry.register(make_provider("Plain"))
    assert registry.caches_routes is True


# -- in-process plugins -------------------------------------------------------------------------


def test_plugin_registering_a_broken_class_keeps_its_good_ones(registry, make_provider):
    good = make_provider("Fine")
    bad = make_provider("Bad", models={})

    def register_providers(register):
        register(bad)
        register(good)

    info = registry.add_plugin(_plugin(register_providers=register_providers), "mixed")
    assert registry.get("fine") is good and "Bad" not in registry
    assert info.providers == ["Fine"]
    assert len(info.errors) == 1 and "'models'" in info.errors[0] and "Bad" in info.errors[0]
    assert registry.failed_plugins() == [info]


def test_plugin_whose_hook_raises_is_recorded(registry, make_provider):
    def register_providers(register):
        raise RuntimeError("kaboom")

    info = registry.add_plugin(_plugin(register_providers=register_providers), "raiser")
    registry.add_plugin(_plugin(register_providers=lambda register: register(make_provider("Other"))), "other")
    assert info.status == "failed"
    assert info.errors == ["register_providers raised RuntimeError: kaboom"]
    assert [p.name for p in registry.providers()] == ["Other"]
    assert [i.name for i in registry.failed_plugins()] == ["raiser"]


def test_plugin_with_a_bad_hook_signature_is_refused(registry):
    info = registry.add_plugin(_plugin(register_providers=lambda wrong_argument: None), "badsig")
    assert info.status == "failed"
    assert "hook validation failed" in info.errors[0]


def test_plugin_without_hooks_gets_a_warning(registry):
    info = registry.add_plugin(types.SimpleNamespace(unrelated=1), "empty")
    assert info.warnings == ["no provider_core hook implementations found"]


def test_a_working_only_plugin_does_not_hide_an_empty_plugin(registry):
    registry.add_plugin(_plugin(provider_working=lambda provider: None), "health")
    info = registry.add_plugin(types.SimpleNamespace(unrelated=1), "empty")
    assert info.warnings == ["no provider_core hook implementations found"]


def test_explicit_registrations_have_their_origin(registry, make_provider):
    cls = registry.register(make_provider("Mine"))
    assert registry.origin(cls) == EXPLICIT == registry.origin("mine")
    assert list(registry.iter_providers()) == [(EXPLICIT, cls)]


def test_refused_explicit_registration_raises(registry, make_provider):
    with pytest.raises(ProviderContractError):
        registry.register(make_provider("Nope", working="yes"))


def test_get_registry_is_a_process_wide_singleton_and_reset_restores_it():
    mine = Registry(load_entry_points=False)
    undo = reset_registry(mine)
    try:
        assert get_registry() is mine is get_registry()
    finally:
        undo()
    assert get_registry() is not mine


def test_entry_points_are_not_loaded_until_the_first_query():
    reg = Registry(environ={"PROVIDER_CORE_PLUGINS": "no-such-plugin"})
    assert not reg.loaded
    with pytest.warns(RuntimeWarning, match="PROVIDER_CORE_PLUGINS names 'no-such-plugin': no such plugin"):
        reg.providers()
    assert reg.loaded
    assert [info.name for info in reg.plugins() if info.status == "builtin"] == ["breaker"]
    assert all(info.status == "disabled" for info in reg.plugins() if info.status != "builtin")
