"""The Claude models this plugin ships, with what each accepts, and the live model list.

:data:`MODELS` is a small data table of current Claude API model ids (from Anthropic's
models overview and model pages), each with capability flags. Two flags change what
:mod:`provider_anthropic.request` sends:

``sampling``
    Whether the model accepts ``temperature`` / ``top_p``. From Claude Opus 4.7 on, a
    non-default value is refused with HTTP 400, so the plugin leaves both out for such a
    model (see ``docs/anthropic.md``).
``forced_tools``
    Whether ``tool_choice`` may force a tool (``"required"`` or a named tool). Models
    whose thinking cannot be turned off refuse it with HTTP 400, so the plugin refuses it
    before sending.

:func:`fetch_model_list` reads the live list (``GET /v1/models``, every page), and
:func:`live_model_ids` is what the plugin's ``fetch_models`` hook answers provider-core's
model catalog with (``provider-core refresh``, a gateway, a request for an unknown model).
Registration never calls them: it serves the shipped models plus the ids of the live list
the catalog last fetched (:func:`provider_core.modelcache.with_cached_models`). A live
id not in :data:`MODELS` gets the flags of :func:`model_info` for an unlisted id. Only the
standard library is imported here at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from provider_core.records import Record

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelInfo",
    "display_names",
    "fetch_model_list",
    "live_model_ids",
    "model_info",
    "parse_models_page",
]


class ModelInfo(Record):
    """One shipped model: its id, display name and what it accepts."""

    _fields = ("id", "name", "tools", "vision", "json", "sampling", "forced_tools")
    __slots__ = _fields
    _defaults: ClassVar = {"tools": True, "vision": True, "json": True, "sampling": False, "forced_tools": True}
    id: str
    name: str
    tools: bool
    vision: bool
    json: bool
    sampling: bool
    forced_tools: bool


#: The shipped models, newest family first.
MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("claude-opus-5-5", "Claude Opus 5.5", forced_tools=False),
    ModelInfo("claude-fable-5-1", "Claude Fable 5.1", forced_tools=False),
    ModelInfo("claude-sonnet-5-5", "Claude Sonnet 5.5", forced_tools=False),
    ModelInfo("claude-haiku-5-5", "Claude Haiku 5.5"),
    ModelInfo("claude-opus-5", "Claude Opus 5"),
    ModelInfo("claude-sonnet-5", "Claude Sonnet 5"),
    ModelInfo("claude-opus-4-8", "Claude Opus 4.8"),
    ModelInfo("claude-opus-4-7", "Claude Opus 4.7"),
    ModelInfo("claude-opus-4-6", "Claude Opus 4.6", sampling=True),
    ModelInfo("claude-sonnet-4-6", "Claude Sonnet 4.6", sampling=True),
    ModelInfo("claude-haiku-4-5-20251001", "Claude Haiku 4.5", sampling=True),
)
#: Anthropic's recommended starting point in its models overview.
DEFAULT_MODEL = "claude-opus-5-5"

_BY_ID = {m.id: m for m in MODELS}
#: For a model id not in the table (a caller's own ``models``): assume the strict side.
_UNKNOWN = ModelInfo("", "", sampling=False, forced_tools=True)


def model_info(model: str) -> ModelInfo:
    """The table row of ``model``; an unlisted id gets the current generation's rules."""
    return _BY_ID.get(model, _UNKNOWN)


def display_names() -> dict[str, str]:
    """``{model id: display name}`` of the shipped models, in table order."""
    return {m.id: m.name for m in MODELS}


#: Page size asked of ``GET /v1/models`` (the API's largest).
PAGE_LIMIT = 1000
#: Most pages followed: a server that always says ``has_more`` cannot loop us forever.
MAX_PAGES = 100
#: (connect, read) seconds for each page the model catalog asks for.
LIST_TIMEOUT = (10.0, 20.0)


def parse_models_page(payload: Any) -> tuple[dict[str, str], str | None]:
    """``({id: display name}, after_id)`` of one ``GET /v1/models`` page, ``after_id`` being
    the id to continue after (``None`` on the last page). Raises ``ValueError`` for a reply
    that is not a models page; unusable entries are skipped."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        raise ValueError("the reply has no list of models ('data')")
    models: dict[str, str] = {}
    for item in payload["data"]:
        if not isinstance(item, Mapping):
            continue
        model = item.get("id")
        if isinstance(model, str) and model and model.isprintable() and len(model) <= 256:
            name = item.get("display_name")
            models[model] = name if isinstance(name, str) and name else model
    last = payload.get("last_id")
    more = payload.get("has_more") is True and isinstance(last, str) and bool(last)
    return models, (last if more else None)


def fetch_model_list(base_url: str, key: Any, timeout: Any = 10.0, *, proxy: str | None = None) -> dict[str, str]:
    """The live model list of the endpoint at ``base_url`` (e.g. ``https://api.anthropic.com``):
    ``{id: display name}`` in the order served, every page followed (``has_more`` /
    ``after_id``). ``key`` is a ``SecretStr`` or ``str``. Raises the transport's typed errors
    (:class:`~provider_core.errors.ProviderHTTPError`, connection errors) and
    :class:`~provider_core.errors.ProviderError` for a reply that is not a model list."""
    from provider_core.errors import ProviderError
    from provider_core.transport import request_json

    from .wire import NAME, auth_headers, parse_error_body

    headers = auth_headers(key)
    models: dict[str, str] = {}
    after: str | None = None
    for _ in range(MAX_PAGES):
        url = f"{base_url.rstrip('/')}/v1/models?limit={PAGE_LIMIT}"
        if after is not None:
            from urllib.parse import quote

            url += f"&after_id={quote(after, safe='')}"
        payload = request_json(
            NAME, "GET", url, headers=headers, timeout=timeout, proxy=proxy, parse_error=parse_error_body
        )
        try:
            page, next_after = parse_models_page(payload)
        except ValueError as exc:
            raise ProviderError(f"{NAME}: unexpected model list from {base_url}: {exc}", provider=NAME) from None
        models.update(page)
        if next_after is None or next_after == after:
            return models
        after = next_after
    return models


def live_model_ids(provider: Any) -> list[str] | None:
    """The live model ids of ``provider`` (a class :func:`~provider_anthropic.provider.configured`
    made), for the model catalog: ``None`` when it is not configured (no key, or an unusable
    base URL: nothing to ask, the shipped list stands, and ``status_reason`` says why); else
    :func:`fetch_model_list` from its base URL, its errors raised as they are (typed, one line
    each: ``Anthropic: connection refused (http://host/v1/models)``)."""
    if provider.api_key is None or not provider.working:
        return None
    return list(fetch_model_list(provider.base_url, provider.api_key, LIST_TIMEOUT))
