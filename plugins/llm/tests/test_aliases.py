"""llm's model aliases as provider-core aliases: the pure function over an index, and the
aliases of a real index (llm's built-in ones, a plugin's, ``aliases.json``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import provider_llm
from provider_llm.aliases import aliases_from_index
from provider_llm.index import Index, ModelEntry


def _index(*models: ModelEntry) -> Index:
    return Index(key={}, models=models)


def test_aliases_map_to_model_ids() -> None:
    index = _index(ModelEntry("gpt-4o", "default", aliases=("4o",)), ModelEntry("claude", "anthropic", aliases=("c",)))
    assert aliases_from_index(index) == {"4o": "gpt-4o", "c": "claude"}


def test_a_later_model_wins_as_in_llm() -> None:
    index = _index(
        ModelEntry("a", "one", aliases=("fast",)),
        ModelEntry("b", "two", aliases=("fast", "a")),  # an alias named like a model: llm keeps the model
        ModelEntry("a", "three"),
    )
    assert aliases_from_index(index) == {"fast": "b"}


def test_no_alias_is_a_models_own_id() -> None:
    assert aliases_from_index(_index(ModelEntry("m", "p", aliases=("m", "n")))) == {"n": "m"}


def test_aliases_of_the_real_index(use_site: Callable[[str], Path], llm_home: Path) -> None:
    use_site("good")
    (llm_home / "aliases.json").write_text(json.dumps({"mine": "pcfix-free", "ghost": "no-such-model"}), "utf-8")
    aliases = provider_llm.model_aliases()
    assert aliases["4o"] == "gpt-4o"  # llm's built-in
    assert aliases["pe"] == "pcfix-echo"  # the plugin's
    assert aliases["mine"] == "pcfix-free"  # aliases.json
    assert "ghost" not in aliases  # an alias of a model nobody registers


def test_the_aliases_route_through_the_registry(use_site: Callable[[str], Path], llm_home: Path) -> None:
    from provider_core import Registry

    use_site("good")
    registry = Registry(environ={"PROVIDER_CORE_PLUGINS": "llm"})
    alias = registry.aliases()["pe"]
    assert [str(t) for t in alias.targets] == ["pcfix-echo"] and alias.source == "plugin llm"
    plan = registry.router.plan("pe", include_not_working=True)
    assert plan.alias is alias and all(model == "pcfix-echo" for model in plan.models)
