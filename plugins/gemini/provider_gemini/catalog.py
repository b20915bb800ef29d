"""The Gemini models this plugin ships with, and what each can do.

A small data table, read at registration (standard library only, no I/O). The ids are the
model codes of Google's Gemini API model pages (checked 2026-11): the Gemini 3 text
models, and Gemini 2.5 Flash-Lite, which is not deprecated. Gemini 2.5 Pro and 2.5 Flash
are left out: their shutdown is announced for 2026-12-01. Image-, speech- and Live-API
models are left out too: this provider speaks ``generateContent`` for text.

The provider serves these models plus the ids of the live list (``GET /v1beta/models``,
:mod:`provider_gemini.listing`) that provider-core's model catalog last fetched; a live id
not in this table gets the provider's flags.
"""

# No `from __future__ import annotations` here: the named tuple below evaluates its fields'
# annotations, and a string one (what that import makes of each) is compiled at every start
# (bench/RESULTS.md, "CLI cold start").
from typing import NamedTuple

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelInfo", "display_names"]


class ModelInfo(NamedTuple):
    """One model: its id (as sent in the URL), a display name, and whether it takes
    function declarations (``tools``), image input (``vision``) and a JSON response
    MIME type / schema (``json``)."""

    id: str
    name: str
    tools: bool = True
    vision: bool = True
    json: bool = True


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("gemini-3.8-flash", "Gemini 3.8 Flash"),
    ModelInfo("gemini-3.7-flash", "Gemini 3.7 Flash"),
    ModelInfo("gemini-3.6-flash", "Gemini 3.6 Flash"),
    ModelInfo("gemini-3.5-flash", "Gemini 3.5 Flash"),
    ModelInfo("gemini-3.5-flash-lite", "Gemini 3.5 Flash-Lite"),
    ModelInfo("gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite"),
    ModelInfo("gemini-3.1-pro-preview", "Gemini 3.1 Pro (preview)"),
    ModelInfo("gemini-3-flash-preview", "Gemini 3 Flash (preview)"),
    ModelInfo("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
)

#: Used when a caller names the provider but gives no model.
DEFAULT_MODEL = "gemini-3.8-flash"


def display_names() -> dict[str, str]:
    """``{model id: display name}``, in table order (the provider's ``models``)."""
    return {m.id: m.name for m in MODELS}
