"""The live model list: ``GET {base}/v1beta/models``, every page.

:func:`fetch_models` reads it; :func:`live_model_ids` is what the plugin's ``fetch_models``
hook answers provider-core's model catalog with (``provider-core refresh``, a gateway, a
request for an unknown model). Registration never calls them: it serves the shipped models
plus the ids of the live list the catalog last fetched
(:func:`provider_core.modelcache.with_cached_models`). Ids come without the ``models/``
prefix, and only models that can ``generateContent`` are kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from provider_core.errors import ProviderError
from provider_core.secrets import reveal

from .provider import API_VERSION, DEFAULT_BASE_URL, USER_AGENT, normalize_base_url
from .replies import parse_model_page
from .wire_errors import parse_error_body

__all__ = ["LIST_TIMEOUT", "MAX_PAGES", "PAGE_SIZE", "fetch_models", "live_model_ids"]

#: Models asked for per page (the API's largest page).
PAGE_SIZE = 1000
#: A bound on the pages followed, so a server that always answers a next page cannot loop us.
MAX_PAGES = 100
#: (connect, read) seconds for each page the model catalog asks for.
LIST_TIMEOUT = (10.0, 20.0)


def fetch_models(
    base_url: str = DEFAULT_BASE_URL, key: Any = None, timeout: Any = 10.0, *, proxy: str | None = None
) -> list[str]:
    """The ids of the models ``key`` (a ``str`` or ``SecretStr``) may call at ``base_url``,
    in the API's order, without duplicates. Raises the transport's typed errors
    (``ProviderHTTPError`` with Google's message, ``ProviderConnectionError``, ...) and
    ``ProviderError`` for a reply without a model list or more than :data:`MAX_PAGES` pages."""
    from provider_core.transport import request_json

    base = normalize_base_url(base_url)
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    if key is not None:
        headers["x-goog-api-key"] = str(reveal(key))
    ids: dict[str, None] = {}
    token: str | None = None
    for _ in range(MAX_PAGES):
        url = f"{base}/{API_VERSION}/models?pageSize={PAGE_SIZE}"
        if token:
            url += f"&pageToken={quote(token, safe='')}"
        payload = request_json(
            "Gemini", "GET", url, headers=headers, timeout=timeout, proxy=proxy, parse_error=parse_error_body
        )
        try:
            page, token = parse_model_page(payload)
        except ValueError as exc:
            raise ProviderError(f"Gemini: unexpected model list from {base}: {exc}", provider="Gemini") from None
        ids.update(dict.fromkeys(page))
        if token is None:
            return list(ids)
    raise ProviderError(f"Gemini: the model list from {base} has more than {MAX_PAGES} pages", provider="Gemini")


def live_model_ids(provider: Any) -> list[str] | None:
    """The live model ids of ``provider`` (a class :func:`~provider_gemini.provider.configure`
    made), for the model catalog: ``None`` when it is not configured (no key, or an unusable
    base URL: nothing to ask, the shipped list stands, and ``status_reason`` says why); else
    :func:`fetch_models` from its base URL, its errors raised as they are (typed, one line
    each: ``Gemini: connection refused (http://host/v1beta/models)``)."""
    if provider.api_key is None or not provider.working:
        return None
    return fetch_models(provider.base_url, provider.api_key, LIST_TIMEOUT)
