"""Which models each endpoint serves: from its configuration, or ``GET {base}/models``
with a cache, fetched in parallel within a bounded time.

The fetch happens when the registry loads (the first query of a process), so it must
never hold a command up for long or fail it:

* a list younger than the endpoint's TTL is read from the cache file, with no request;
* the others are fetched in parallel daemon threads, and the registry waits at most the
  longest ``models_timeout`` (5 s by default) for all of them together; a fetch that is
  still running then counts as failed (if it succeeds later, its list is cached for the
  next run);
* a failed fetch never hides the endpoint: it is registered as not working, with the
  reason (``model list unavailable: connection refused (...)``) and the last list that was
  cached, if any.

The cache is one JSON file (see :func:`provider_openai.paths.cache_path`) keyed by
endpoint name and base URL; it holds model ids only, never a key. A cache that cannot be
read or written is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import EndpointConfig

__all__ = ["ModelCache", "ModelList", "fetch_models", "resolve_models"]

CACHE_VERSION = 1


@dataclass(frozen=True)
class ModelList:
    """An endpoint's models (id -> display name) and, when it is not usable now, why."""

    models: Mapping[str, str]
    source: str  # "config", "cache", "fetched", "stale cache" or "none"
    problem: str | None = None


class ModelCache:
    """The model-list cache file: ``get`` an entry with its age, ``put`` a fresh list.
    Safe across threads; across processes each write replaces the file atomically."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()

    @staticmethod
    def key(endpoint: EndpointConfig) -> str:
        return f"{endpoint.name} {endpoint.display_url}"  # never a password of the URL

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        entries = data.get("entries") if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None
        return entries if isinstance(entries, dict) else {}

    def get(self, endpoint: EndpointConfig) -> tuple[list[str], float] | None:
        """``(model ids, age in seconds)`` of the cached list, or ``None``."""
        entry = self._load().get(self.key(endpoint))
        if not isinstance(entry, dict):
            return None
        models, fetched = entry.get("models"), entry.get("fetched_at")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            return None
        if isinstance(fetched, bool) or not isinstance(fetched, (int, float)):
            return None
        return models, max(0.0, self.clock() - fetched)

    def put(self, endpoint: EndpointConfig, models: list[str]) -> None:
        """Store a freshly fetched list (best effort: errors are ignored)."""
        with self._lock:
            entries = self._load()
            entries[self.key(endpoint)] = {"models": models, "fetched_at": self.clock()}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".openai-models-", dir=self.path.parent)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        json.dump({"version": CACHE_VERSION, "entries": entries}, handle)
                    os.replace(tmp, self.path)
                except BaseException:
                    os.unlink(tmp)
                    raise
            except OSError:
                pass


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


def fetch_models(endpoint: EndpointConfig) -> list[str]:
    """``GET {base}/models`` and return the model ids; raises a
    :class:`~provider_core.errors.ProviderError` (or ``ValueError`` for a reply that lists
    no models)."""
    from provider_core.transport import request_json

    from .protocol import parse_error_body, parse_model_list

    timeout = min(endpoint.models_timeout, 10.0), endpoint.models_timeout
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
    if not models:
        raise ValueError("the endpoint lists no models")
    return models


def _as_mapping(ids: list[str]) -> dict[str, str]:
    return {m: m for m in ids}


def resolve_models(
    endpoints: list[EndpointConfig],
    cache: ModelCache,
    fetch: Callable[[EndpointConfig], list[str]] = fetch_models,
) -> dict[str, ModelList]:
    """The :class:`ModelList` of every endpoint, by name, fetching what the cache cannot
    answer (in parallel, waiting at most the longest ``models_timeout`` in all)."""
    result: dict[str, ModelList] = {}
    pending: list[tuple[EndpointConfig, tuple[list[str], float] | None]] = []
    for endpoint in endpoints:
        no_key = f"API key variable {endpoint.api_key_env} is not set" if endpoint.key_missing else None
        if endpoint.models is not None:
            result[endpoint.name] = ModelList(dict(endpoint.models), "config", no_key)
            continue
        cached = cache.get(endpoint)
        if no_key:
            models = _as_mapping(cached[0]) if cached else {}
            result[endpoint.name] = ModelList(models, "stale cache" if cached else "none", no_key)
        elif cached is not None and cached[1] < endpoint.ttl:
            result[endpoint.name] = ModelList(_as_mapping(cached[0]), "cache")
        else:
            pending.append((endpoint, cached))
    if not pending:
        return result

    outcomes: dict[str, list[str] | BaseException] = {}

    def work(endpoint: EndpointConfig) -> None:
        try:
            models = fetch(endpoint)
        except Exception as exc:
            outcomes[endpoint.name] = exc
            return
        cache.put(endpoint, models)
        outcomes[endpoint.name] = models

    threads = []
    for endpoint, _ in pending:
        thread = threading.Thread(target=work, args=(endpoint,), name=f"models-{endpoint.name}", daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + max(e.models_timeout for e, _ in pending) + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for endpoint, cached in pending:
        outcome = outcomes.get(endpoint.name)
        if isinstance(outcome, list):
            result[endpoint.name] = ModelList(_as_mapping(outcome), "fetched")
            continue
        why = _why(outcome, endpoint) if outcome is not None else f"no answer within {endpoint.models_timeout:g}s"
        problem = f"model list unavailable: {why}"
        if cached:
            problem += f" (showing the list cached {_age(cached[1])} ago)"
        models = _as_mapping(cached[0]) if cached else {}
        result[endpoint.name] = ModelList(models, "stale cache" if cached else "none", problem)
    return result


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
