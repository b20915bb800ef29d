"""Routing by model name: order, overrides, the index, and the errors that explain an empty route."""

from __future__ import annotations

import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_core import ModelNotSupported, NoProviderAvailable, RoutePlan, hookimpl


def test_order_is_priority_descending_then_name(registry, make_provider):
    for name, prio in [("charlie", 0), ("Alpha", 0), ("bravo", 0), ("zulu", 5), ("yankee", 5), ("low", -1)]:
        registry.register(make_provider(name, priority=prio))
    assert [p.name for p in registry.route("m")] == ["yankee", "zulu", "Alpha", "bravo", "charlie", "low"]


def test_order_does_not_depend_on_registration_order(make_provider):
    from provider_core import Registry

    names = ["d", "b", "a", "c"]
    classes = [make_provider(n) for n in names]
    orders = set()
    for rotation in range(len(classes)):
        reg = Registry(load_entry_points=False)
        for cls in classes[rotation:] + classes[:rotation]:
            reg.register(cls)
        orders.add(tuple(p.name for p in reg.route("m")))
    assert orders == {("a", "b", "c", "d")}


def test_prefer_moves_named_providers_to_the_front(registry, make_provider):
    for name, prio in [("A", 3), ("B", 2), ("C", 1), ("D", 0)]:
        registry.register(make_provider(name, priority=prio))
    assert [p.name for p in registry.route("m", prefer=["c"])] == ["C", "A", "B", "D"]
    assert [p.name for p in registry.route("m", prefer=["D", "b"])] == ["D", "B", "A", "C"]
    assert [p.name for p in registry.route("m", prefer=["not-installed"])] == ["A", "B", "C", "D"]
    assert [p.name for p in registry.route("m")] == ["A", "B", "C", "D"]  # a per-call override only


def test_prefer_does_not_resurrect_a_skipped_provider(registry, make_provider):
    registry.register(make_provider("Up"))
    registry.register(make_provider("Down", working=False))
    assert [p.name for p in registry.route("m", prefer=["Down"])] == ["Up"]


def test_route_at_ten_thousand_providers(registry, make_provider):
    base = make_provider("Base")
    for i in range(10_000):
        attrs = {"name": f"P{i:05d}", "models": {f"model-{i % 1000}": "x", "common": "x"}, "priority": i % 7}
        registry.register(type(f"P{i:05d}", (base,), attrs))
    assert len(registry) == 10_000
    # model-123 is served by P00123, P01123, ... P09123; priority i % 7 first, then name
    expected = sorted((f"P{i:05d}" for i in range(123, 10_000, 1000)), key=lambda n: (-(int(n[1:]) % 7), n))
    assert [p.name for p in registry.route("model-123")] == expected
    first = registry.route("common")
    assert len(first) == 10_000 and first[0].name == "P00006"  # the lowest name among priority 6
    assert {p.name for p in registry.route("model-999")} == {f"P{i:05d}" for i in range(999, 10_000, 1000)}
    assert len(registry.models()) == 1001


def test_unknown_model_lists_close_matches(registry, make_provider):
    registry.register(make_provider("A", models=["gpt-4", "gpt-4-32k", "gpt-3.5-turbo"]))
    with pytest.raises(ModelNotSupported) as info:
        registry.route("gpt4")
    err = info.value
    assert "gpt-4" in err.suggestions and "gpt-3.5-turbo" not in err.suggestions
    assert "did you mean" in str(err) and "'gpt4'" in str(err)
    assert isinstance(err, ValueError)


def test_unknown_model_without_close_matches(registry, make_provider):
    registry.register(make_provider("A", models=["gpt-4"]))
    with pytest.raises(ModelNotSupported) as info:
        registry.route("llama-zzz")
    assert info.value.suggestions == [] and "did you mean" not in str(info.value)


def test_empty_model_is_refused_with_advice(registry, make_provider):
    registry.register(make_provider("A"))
    with pytest.raises(ModelNotSupported, match="no model given"):
        registry.route("")


@pytest.mark.parametrize("model", [None, 42, ["m"], {"m": 1}, b"m"])
def test_a_model_that_is_not_a_string_is_model_not_supported(registry, make_provider, model):
    registry.register(make_provider("A"))
    with pytest.raises(ModelNotSupported):
        registry.route(model)  # type: ignore[arg-type]


def test_known_model_without_working_provider_says_why_for_each(registry, make_provider):
    registry.register(make_provider("Aivvm", working=False, models=["gpt-4"]))
    registry.register(make_provider("Quiet", supports_stream=False, models=["gpt-4"]))
    with pytest.raises(NoProviderAvailable) as info:
        registry.route("gpt-4", stream=True)
    err = info.value
    reasons = {a.provider: a.reason for a in err.attempts}
    assert reasons == {"Aivvm": "marked not working", "Quiet": "does not support streaming"}
    assert "Aivvm: marked not working" in str(err) and "Quiet: does not support streaming" in str(err)
    assert "provider='Aivvm'" in str(err)  # how to call it anyway


def test_include_not_working(registry, make_provider):
    registry.register(make_provider("Up", priority=0))
    registry.register(make_provider("Down", working=False, priority=1))
    assert [p.name for p in registry.route("m", include_not_working=True)] == ["Down", "Up"]
    assert [p.name for p in registry.route("m")] == ["Up"]


def test_stream_filter(registry, make_provider):
    registry.register(make_provider("Streams"))
    registry.register(make_provider("Blocks", supports_stream=False))
    assert [p.name for p in registry.route("m", stream=True)] == ["Streams"]
    assert [p.name for p in registry.route("m", stream=False)] == ["Blocks", "Streams"]


def test_explain_route_reports_skips_without_raising(registry, make_provider):
    registry.register(make_provider("Down", working=False))
    plan = registry.router.plan("m")
    assert isinstance(plan, RoutePlan) and plan.candidates == ()
    assert [str(a) for a in plan.skipped] == ["Down: marked not working"]
    data = plan.to_dict(registry)
    assert data == {
        "model": "m",
        "stream": False,
        "alias": None,
        "strategy": "priority",
        "candidates": [],
        "skipped": [{"name": "Down", "model": "m", "reason": "marked not working", "retry_after": None}],
    }


def test_route_plan_to_dict_names_the_plugin(registry, make_provider):
    registry.register(make_provider("One", priority=2))
    data = registry.router.plan("m").to_dict(registry)
    assert data["candidates"] == [{"name": "One", "model": "m", "plugin": "<explicit>", "priority": 2}]


def test_cache_is_invalidated_on_register(registry, make_provider):
    registry.register(make_provider("First"))
    assert [p.name for p in registry.route("m")] == ["First"]
    assert registry.router.route("m") is registry.router.route("m")  # cached while nothing changes
    registry.register(make_provider("Aaa"))
    assert [p.name for p in registry.route("m")] == ["Aaa", "First"]
    registry.unregister("aaa")
    assert [p.name for p in registry.route("m")] == ["First"]


def test_dynamic_working_hook_is_not_cached(registry, make_provider):
    registry.register(make_provider("Flaky"))
    registry.register(make_provider("Steady", priority=-1))
    state = {"flaky": None}
    plugin = types.SimpleNamespace(
        provider_working=hookimpl(lambda provider: state["flaky"] if provider.name == "Flaky" else None)
    )
    registry.add_plugin(plugin, "health")
    assert [p.name for p in registry.route("m")] == ["Flaky", "Steady"]
    state["flaky"] = False
    plan = registry.router.plan("m")
    assert [p.name for p in plan.candidates] == ["Steady"]
    assert [str(a) for a in plan.skipped] == ["Flaky: reported not working by a provider_working hook"]
    state["flaky"] = None
    assert [p.name for p in registry.route("m")] == ["Flaky", "Steady"]


def test_hook_can_bring_a_statically_down_provider_up(registry, make_provider):
    registry.register(make_provider("Revived", working=False))
    plugin = types.SimpleNamespace(provider_working=hookimpl(lambda provider: True))
    registry.add_plugin(plugin, "health")
    assert [p.name for p in registry.route("m")] == ["Revived"]


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.text(st.characters(min_codepoint=ord("0"), max_codepoint=ord("z")), min_size=1, max_size=6),
        st.tuples(st.integers(-3, 3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_route_order_property(make_provider, specs, stream):
    """Whatever the providers: candidates = the working (and, if asked, streaming) ones,
    sorted by priority descending then name; every other one is in ``skipped``."""
    from provider_core import Registry

    reg = Registry(load_entry_points=False)
    names_seen: set[str] = set()
    for name, (prio, working, streams) in specs.items():
        if name.lower() in names_seen:
            continue
        names_seen.add(name.lower())
        reg.register(make_provider(name, priority=prio, working=working, supports_stream=streams))
    providers = reg.providers()
    usable = [p for p in providers if p.working and (p.supports_stream or not stream)]
    expected = sorted(usable, key=lambda p: (-p.priority, p.name.lower()))
    plan = reg.router.plan("m", stream=stream)
    assert list(plan.candidates) == expected
    assert {a.provider for a in plan.skipped} == {p.name for p in providers} - {p.name for p in usable}
    if expected:
        assert reg.route("m", stream=stream) == expected
    else:
        with pytest.raises(NoProviderAvailable):
            reg.route("m", stream=stream)
