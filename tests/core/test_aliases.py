"""Aliases and fallback groups across vendors, routing strategies, and the config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from provider_core import Registry, create_completion, hookimpl
from provider_core.aliases import Target, alias_problems, expand, parse_aliases, parse_target
from provider_core.checks import config_problems
from provider_core.errors import FallbackWarning, ModelNotSupported, NoProviderAvailable, ProviderConnectionError
from provider_core.strategy import parse_routing

USER = [{"role": "user", "content": "hi"}]


def asked(seen: list[tuple[str, str]]):
    """A provider body that records (provider, model asked) and answers with both."""

    def body(cls, model, messages, stream, **kwargs):
        seen.append((cls.name, model))
        yield f"{cls.name}:{model}"

    return body


@pytest.fixture
def vendors(registry, make_provider):
    seen: list[tuple[str, str]] = []
    registry.register(make_provider("OpenAI", models=("gpt-4o", "gpt-4o-mini"), body=asked(seen)))
    registry.register(make_provider("Anthropic", models=("claude-sonnet-4-5",), body=asked(seen)))
    registry.register(make_provider("Router", models=("gpt-4o",), body=asked(seen), priority=-1))
    return registry, seen


# -- parsing and expansion (pure) ---------------------------------------------------------


def test_targets_parse_with_and_without_a_provider():
    assert parse_target("gpt-4o") == Target("gpt-4o")
    assert parse_target("gpt-4o@OpenAI") == Target("gpt-4o", "OpenAI")
    for bad in ("", "@openai", "gpt-4o@", 3, None):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_a_table_of_aliases_keeps_the_good_ones_and_names_the_bad():
    found, problems = parse_aliases({"smart": ["gpt-4o@openai", "", "claude"], "fast": "gpt-4o-mini", "x": 3}, "f.toml")
    assert [str(t) for t in found["smart"].targets] == ["gpt-4o@openai", "claude"]
    assert found["fast"].targets == (Target("gpt-4o-mini"),)
    assert [p.where for p in problems] == ["aliases.smart[1]", "aliases.x"]


def test_expansion_follows_aliases_and_reports_loops():
    aliases, _ = parse_aliases({"a": ["b", "m1"], "b": ["m2", "a"], "c": "m3@p"}, "f")
    targets, loops = expand("a", aliases)
    assert targets == [Target("m2"), Target("m1")] and loops == ["a -> b -> a"]


def test_problems_name_each_bad_target_and_the_others_stay():
    aliases, _ = parse_aliases(
        {
            "gpt-4o": "claude-sonnet-4-5",  # shadows a real model id
            "ghost": "gpt-4o@nobody",
            "wrong": "claude-sonnet-4-5@openai",
            "missing": "gpt-5",
            "good": ["gpt-4o@OPENAI", "claude-sonnet-4-5"],
        },
        "config.toml",
    )
    served = {"gpt-4o": ["OpenAI"], "claude-sonnet-4-5": ["Anthropic"]}
    found = {(p.alias, p.message) for p in alias_problems(aliases, served, ["OpenAI", "Anthropic"])}
    assert ("gpt-4o", "shadows the model id 'gpt-4o' (the model wins: the alias is unused)") in found
    assert ("ghost", "target gpt-4o@nobody: no installed provider 'nobody'") in found
    assert ("wrong", "target claude-sonnet-4-5@openai: OpenAI does not serve 'claude-sonnet-4-5'") in found
    assert ("missing", "target gpt-5: no installed provider serves 'gpt-5'") in found
    assert not any(alias == "good" for alias, _ in found)


def test_routing_settings_parse_and_report():
    config, problems = parse_routing(
        {"strategy": "latency", "aliases": {"smart": {"strategy": "weighted"}}, "weights": {"m@P": 2, "bad": 1}, "x": 1}
    )
    assert config.strategy == "latency" and config.strategy_for("smart") == "weighted"
    assert config.weight("P", "m") == 2.0 and config.weight("Q", "m") == 1.0
    assert {key for key, _ in problems} == {"routing.weights.bad", "routing.x"}
    config, problems = parse_routing({"strategy": "fastest"})
    assert config.strategy == "priority" and problems[0][0] == "routing.strategy"


# -- routing with aliases -----------------------------------------------------------------


def test_each_candidate_is_asked_for_its_own_model(vendors):
    registry, _ = vendors
    registry.add_alias("smart", ["gpt-4o@openai", "claude-sonnet-4-5"])
    assert create_completion("smart", USER, stream=False, registry=registry) == "OpenAI:gpt-4o"
    plan = registry.router.plan("smart")
    assert [(p.name, m) for p, m in zip(plan.candidates, plan.models, strict=True)] == [
        ("OpenAI", "gpt-4o"),
        ("Anthropic", "claude-sonnet-4-5"),
    ]
    assert plan.alias is not None and plan.alias.name == "smart"


def test_a_group_falls_back_across_vendors_before_the_first_chunk(registry, make_provider):
    seen: list[tuple[str, str]] = []

    def refused(cls, model, messages, stream, **kwargs):
        raise ProviderConnectionError(f"{cls.name}: connection refused", provider=cls.name, kind="refused")
        yield  # pragma: no cover

    registry.register(make_provider("OpenAI", models=("gpt-4o",), body=refused))
    registry.register(make_provider("Anthropic", models=("claude-sonnet-4-5",), body=asked(seen)))
    registry.add_alias("smart", ["gpt-4o", "claude-sonnet-4-5"])
    with pytest.warns(
        FallbackWarning, match=r"fell back to Anthropic after: OpenAI \(gpt-4o\): ProviderConnectionError"
    ):
        completion = create_completion("smart", USER, registry=registry)
        assert "".join(completion) == "Anthropic:claude-sonnet-4-5"
    assert completion.model == "smart" and completion.model_used == "claude-sonnet-4-5"


def test_a_plain_alias_asks_every_provider_of_its_model(vendors):
    registry, _ = vendors
    registry.add_alias("fast", "gpt-4o")
    assert [p.name for p in registry.route("fast")] == ["OpenAI", "Router"]


def test_a_real_model_id_wins_over_an_alias(vendors):
    registry, _ = vendors
    registry.add_alias("gpt-4o", "claude-sonnet-4-5")
    assert create_completion("gpt-4o", USER, stream=False, registry=registry) == "OpenAI:gpt-4o"


def test_an_unknown_name_suggests_aliases_too(vendors):
    registry, _ = vendors
    registry.add_alias("smartest", "gpt-4o")
    with pytest.raises(ModelNotSupported) as info:
        registry.route("smartes")
    assert "smartest" in info.value.suggestions


def test_skipped_targets_say_which_model_and_why(vendors, make_provider):
    registry, _ = vendors
    registry.register(make_provider("Down", models=("claude-sonnet-4-5",), working=False))
    registry.add_alias("smart", ["claude-sonnet-4-5@down"])
    with pytest.raises(NoProviderAvailable, match=r"Down \(claude-sonnet-4-5\): marked not working"):
        create_completion("smart", USER, registry=registry)


def test_an_alias_without_a_usable_target_is_an_error_naming_check(vendors):
    registry, _ = vendors
    registry.add_alias("nothing", "gpt-9@nobody")
    with pytest.raises(ModelNotSupported, match="no usable target"):
        registry.route("nothing")


# -- the config file and plugins ------------------------------------------------------------


class ShipsAliases:
    @hookimpl
    def register_aliases(self, register):
        register("smart", "gpt-4o-mini")
        register("cheap", ["gpt-4o-mini"])


def config_registry(tmp_path: Path, text: str) -> Registry:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return Registry(load_entry_points=False, read_config=True, environ={"PROVIDER_CORE_CONFIG": str(path)})


def test_the_config_file_wins_over_a_plugins_alias(tmp_path, make_provider):
    registry = config_registry(tmp_path, '[aliases]\nsmart = ["claude-sonnet-4-5", "gpt-4o@openai"]\n')
    seen: list[tuple[str, str]] = []
    registry.register(make_provider("OpenAI", models=("gpt-4o", "gpt-4o-mini"), body=asked(seen)))
    registry.register(make_provider("Anthropic", models=("claude-sonnet-4-5",), body=asked(seen)))
    registry.add_plugin(ShipsAliases(), "ships")
    assert [str(t) for t in registry.aliases()["smart"].targets] == ["claude-sonnet-4-5", "gpt-4o@openai"]
    assert registry.aliases()["cheap"].source == "plugin ships"
    assert create_completion("smart", USER, stream=False, registry=registry) == "Anthropic:claude-sonnet-4-5"
    assert create_completion("cheap", USER, stream=False, registry=registry) == "OpenAI:gpt-4o-mini"


def test_problems_in_the_file_name_the_file_and_key(tmp_path, make_provider):
    registry = config_registry(
        tmp_path,
        '[aliases]\nok = "m"\nghost = "m@nobody"\n[routing]\nstrategy = "fastest"\n',
    )
    registry.register(make_provider("P"))
    problems = config_problems(registry)
    path = str(tmp_path / "config.toml")
    assert (
        f"{path}: routing.strategy",
        "must be one of 'priority', 'latency', 'least-busy', 'weighted', got 'fastest'",
    ) in problems
    assert (f"{path}: aliases.ghost", "target m@nobody: no installed provider 'nobody'") in problems
    assert [p.name for p in registry.route("ok")] == ["P"]  # the others work


def test_a_file_that_is_not_toml_is_one_problem(tmp_path, make_provider):
    registry = config_registry(tmp_path, "[aliases\n")
    registry.register(make_provider("P"))
    ((where, message),) = config_problems(registry)
    assert where == str(tmp_path / "config.toml") and message.startswith("cannot be read:")
    assert [p.name for p in registry.route("m")] == ["P"]


def test_an_unchanged_file_is_read_without_parsing_it_again(tmp_path):
    """The parsed tables are cached (provider_core.tomlcache) while the file is unchanged: a
    new process reads them without importing tomllib, and an edit is seen at once."""
    path = tmp_path / "config.toml"
    path.write_text('[aliases]\nsmart = ["a", "b@p"]\n[routing]\nstrategy = "latency"\n', encoding="utf-8")
    past = time.time() - 10  # a file changed in the last 2 s is never cached: date it back
    os.utime(path, (past, past))
    code = (
        "import sys; from provider_core.userconfig import load_user_config; c = load_user_config(); "
        "parsed = 'tomllib' in sys.modules or 'tomli' in sys.modules; "  # tomli: the parser on 3.10
        "print([str(t) for t in c.aliases['smart'].targets], c.routing.strategy, parsed)"
    )
    env = {**os.environ, "PROVIDER_CORE_CONFIG": str(path)}

    def run() -> str:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run() == "['a', 'b@p'] latency True"  # parsed, then cached
    assert run() == "['a', 'b@p'] latency False"  # read back
    path.write_text('[aliases]\nsmart = "c"\n', encoding="utf-8")
    os.utime(path, (past + 5, past + 5))
    assert run() == "['c'] priority True"


# -- strategies -----------------------------------------------------------------------------


def strategy_registry(tmp_path, make_provider, routing: str, seen: list[tuple[str, str]]) -> Registry:
    registry = config_registry(tmp_path, routing)
    for name in ("Alpha", "Beta", "Gamma"):
        registry.register(make_provider(name, body=asked(seen)))
    return registry


def test_latency_tries_the_unmeasured_first_then_the_fastest(tmp_path, make_provider):
    seen: list[tuple[str, str]] = []
    registry = strategy_registry(tmp_path, make_provider, '[routing]\nstrategy = "latency"\n', seen)
    stats = registry.router.stats
    stats.first_chunk("Alpha", "m", 0.300)
    stats.first_chunk("Gamma", "m", 0.050)
    order = [p.name for p in registry.router.order(registry.router.plan("m"))[0]]
    assert order == ["Beta", "Gamma", "Alpha"]  # Beta never measured: first, so it gets measured
    create_completion("m", USER, stream=False, registry=registry)
    assert seen[-1] == ("Beta", "m") and stats.latency("Beta", "m") is not None  # the request fed the figure
    stats.first_chunk("Beta", "m", 9.0)
    stats.first_chunk("Beta", "m", 9.0)
    assert [p.name for p in registry.router.order(registry.router.plan("m"))[0]] == ["Gamma", "Alpha", "Beta"]
    explained = registry.router.explain(registry.router.plan("m"))
    assert explained["strategy"] == "latency" and explained["candidates"][0]["score"] == {"latency_ms": 50.0}


def test_least_busy_sends_the_next_request_elsewhere(tmp_path, make_provider):
    seen: list[tuple[str, str]] = []
    registry = strategy_registry(tmp_path, make_provider, '[routing]\nstrategy = "least-busy"\n', seen)
    first = create_completion("m", USER, registry=registry)
    next(first)  # Alpha is answering: one request in flight
    second = create_completion("m", USER, registry=registry)
    assert next(second) == "Beta:m"
    first.close()
    second.close()
    assert registry.router.stats.inflight("Alpha", "m") == 0  # closing ends the request


def test_weighted_is_reproducible_with_a_seed_and_follows_the_weights(tmp_path, make_provider):
    text = '[routing]\nstrategy = "weighted"\nseed = 7\n[routing.weights]\n"m@alpha" = 0\n"m@beta" = 100\n'
    seen: list[tuple[str, str]] = []
    registry = strategy_registry(tmp_path, make_provider, text, seen)
    orders = [[p.name for p in registry.router.order(registry.router.plan("m"))[0]] for _ in range(50)]
    assert all(order[-1] == "Alpha" for order in orders)  # weight 0: always last
    assert sum(order[0] == "Beta" for order in orders) > 40  # 100 against 1
    again = strategy_registry(tmp_path, make_provider, text, [])
    assert [[p.name for p in again.router.order(again.router.plan("m"))[0]] for _ in range(50)] == orders


def test_a_strategy_per_alias_and_priority_keeps_the_group_order(tmp_path, make_provider):
    text = '[aliases]\ngroup = ["m@gamma", "m@alpha"]\nfast = "m"\n[routing.aliases.fast]\nstrategy = "latency"\n'
    registry = config_registry(tmp_path, text)
    for name in ("Alpha", "Gamma"):
        registry.register(make_provider(name))
    plan = registry.router.plan("group")
    assert [p.name for p in plan.candidates] == ["Gamma", "Alpha"] and plan.strategy == "priority"
    assert registry.router.plan("fast").strategy == "latency" and registry.router.plan("m").strategy == "priority"


# -- the route command ------------------------------------------------------------------------


def test_route_explains_an_alias(cli, tmp_path, plugin_site):
    config = tmp_path / "config.toml"
    config.write_text('[aliases]\nsmart = ["fixture-echo@FixtureEcho", "nope@nobody"]\n', encoding="utf-8")
    proc = cli("route", "smart", "--json", site=plugin_site, PROVIDER_CORE_CONFIG=str(config))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["alias"] == {
        "alias": "smart",
        "targets": ["fixture-echo@FixtureEcho", "nope@nobody"],
        "source": str(config),
    }
    assert data["candidates"][0] | {"plugin": None} == {
        "name": "FixtureEcho",
        "model": "fixture-echo",
        "plugin": None,
        "priority": 5,
    }
    text = cli("route", "smart", site=plugin_site, PROVIDER_CORE_CONFIG=str(config)).stdout
    assert text.splitlines()[0] == f"smart: alias for fixture-echo@FixtureEcho, nope@nobody ({config})"
    assert "1. FixtureEcho (asked for fixture-echo, priority 5, plugin pcfix_good)" in text
    check = cli("check", "--json", site=plugin_site, PROVIDER_CORE_CONFIG=str(config))
    assert check.returncode == 1
    problems = json.loads(check.stdout)["config"]
    assert problems == [
        {"where": f"{config}: aliases.smart", "message": "target nope@nobody: no installed provider 'nobody'"}
    ]


def test_warnings_stay_quiet_for_a_healthy_alias(vendors):
    registry, _ = vendors
    registry.add_alias("smart", ["gpt-4o@openai"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert create_completion("smart", USER, stream=False, registry=registry) == "OpenAI:gpt-4o"
