"""llm's model aliases, as provider-core aliases: ``{alias: model id}`` from the index.

llm resolves a name by building one mapping over every registered model, in registration
order: each of a model's aliases, then its own id, map to it, a later model overwriting
an earlier one. The same rule is kept here, so an alias means here what it means to
``llm -m``. Names that are a model's own id are left out (they need no alias).
"""

from __future__ import annotations

from .index import Index

__all__ = ["aliases_from_index"]


def aliases_from_index(index: Index) -> dict[str, str]:
    """``{alias: model id}`` for every alias llm's plugins (and ``aliases.json``) give
    their models; pure: reads nothing but ``index``."""
    names: dict[str, str] = {}
    for entry in index.models:
        for alias in entry.aliases:
            names[alias] = entry.id
        names[entry.id] = entry.id
    return {alias: model for alias, model in names.items() if alias != model}
