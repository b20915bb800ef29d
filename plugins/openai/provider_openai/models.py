"""Which models each endpoint serves: from its configuration, or its live list.

Registration never touches the network. An endpoint with a ``models`` list in the config
serves that list. Any other serves its live list as the core's model catalog last fetched
it (:func:`provider_core.modelcache.cached_models`): ``provider-core refresh`` fetches it,
a gateway refreshes it in the background, and a request for a model no provider lists
refreshes the lists that are due (:mod:`provider_core.catalog`). The fetch itself,
``GET {base}/models``, is :func:`fetch_model_ids`, which the plugin's ``fetch_models`` hook
calls.

An endpoint whose list was never fetched, or whose last fetch failed, is still registered,
not working, with the reason (``model list unavailable: connection refused (...)``) and the
last list fetched, if any.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from provider_core.modelcache import cached_models, list_problem

if TYPE_CHECKING:
    from .config import EndpointConfig

__all__ = ["ModelList", "fetch_model_ids", "model_list"]


class ModelList:
    """An endpoint's models (id -> display name), where they come from (``"config"``,
    ``"cache"``, ``"stale cache"`` or ``"none"``) and, when it is not usable now, why.
    (A plain class: a dataclass costs about a millisecond of every start to build.)"""

    __slots__ = ("models", "problem", "source")

    def __init__(self, models: Mapping[str, str], source: str, problem: str | None = None) -> None:
        self.models = models
        self.source = source
        self.problem = problem

    def __repr__(self) -> str:
        return f"ModelList({dict(self.models)!r}, {self.source!r}, problem={self.problem!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelList):
            return NotImplemented
        return (dict(self.models), self.source, self.problem) == (dict(other.models), other.source, other.problem)

    __hash__ = None  # type: ignore[assignment]


def model_list(endpoint: EndpointConfig) -> ModelList:
    """The models ``endpoint`` serves now: its configured list, else the cached live list
    (reading the cache file, never the network)."""
    no_key = f"API key variable {endpoint.api_key_env} is not set" if endpoint.key_missing else None
    if endpoint.models is not None:
        return ModelList(dict(endpoint.models), "config", no_key)
    entry = cached_models(endpoint.name, endpoint.display_url)
    models = {m: m for m in entry.models} if entry is not None else {}
    fresh = entry is not None and entry.error is None
    source = ("cache" if fresh else "stale cache") if models else "none"
    return ModelList(models, source, no_key or list_problem(endpoint.name, entry))


def _auth_headers(endpoint: EndpointConfig) -> dict[str, str]:
    headers = {"accept": "application/json", "user-agent": "provider-core-openai"}
    headers.update(endpoint.headers)
    if endpoint.api_key is not None:
        headers["authorization"] = f"Bearer {endpoint.api_key.get_secret_value()}"
    return headers


def _why(exc: BaseException, endpoint: EndpointConfig) -> str:
    from provider_core.errors import ProviderConnectionError

    text = " ".join(str(exc).split())
    prefix = f"{endpoint.name}: "
    if isinstance(exc, ProviderConnectionError) and text.startswith(prefix):
        text = text[len(prefix) :]  # "connection refused (http://...)"
    status = getattr(exc, "status_code", None)
    last = endpoint.base_url.rsplit("/", 1)[-1]
    if status == 404 and not (last.startswith("v") and last[1:2].isdigit()):
        text += " (does base_url need its version prefix, e.g. /v1?)"
    return text


def fetch_model_ids(endpoint: EndpointConfig) -> list[str]:
    """``GET {base}/models`` within the endpoint's ``models_timeout``, returning the model
    ids; raises a :class:`~provider_core.errors.ProviderError` whose message says what went
    wrong, as the model catalog shows it (``connection refused (http://host/v1/models)``)."""
    from provider_core.errors import ProviderError
    from provider_core.transport import request_json

    from .protocol import parse_error_body, parse_model_list

    if endpoint.key_missing:
        raise ProviderError(f"API key variable {endpoint.api_key_env} is not set", provider=endpoint.name)
    timeout = min(endpoint.models_timeout, 10.0), endpoint.models_timeout
    try:
        payload = request_json(
            endpoint.name,
            "GET",
            f"{endpoint.base_url}/models",
            headers=_auth_headers(endpoint),
            timeout=timeout,
            proxy=endpoint.proxy,
            parse_error=parse_error_body,
        )
        models = parse_model_list(payload)
    except (ProviderError, ValueError) as exc:
        raise ProviderError(_why(exc, endpoint), provider=endpoint.name) from exc
    if not models:
        raise ProviderError("the endpoint lists no models", provider=endpoint.name)
    return models
