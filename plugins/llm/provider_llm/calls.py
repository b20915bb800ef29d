"""One call through llm's Python API, the parts the sync and async paths share: the key
llm would use (:mod:`provider_llm.keys`; a missing one is
:class:`~provider_llm.faults.MissingKey`, nothing sent), the llm model object
(:mod:`provider_llm.instances`), the translated request (:mod:`provider_llm.request`),
``model.prompt(...)``, and what the errors and the end of a reply become.

Errors (:mod:`provider_llm.faults`): before anything was delivered, the typed error of the
fault (HTTP status, network, plugin bug), so routing may fall back; after, a
:class:`~provider_core.errors.StreamInterrupted` saying how much arrived. A reply with no
text and no tool call is :class:`~provider_core.errors.EmptyResponse`; a streamed
OpenAI-shaped reply that ended without a finish reason was cut short
(:func:`provider_llm.finish.cut_short`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provider_core.errors import EmptyResponse, InvalidMessages, ModelNotSupported, ProviderError
from provider_core.events import Event
from provider_core.secrets import quoted_url

from .clients import Clients
from .faults import MissingKey, interrupted, to_provider_error
from .finish import cut_short
from .index import ModelEntry
from .instances import get_model
from .keys import missing_key_text, read_key_store
from .llmhooks import Registered
from .paths import user_dir
from .relay import Relay
from .request import LlmRequest, build_request

__all__ = ["Prepared", "conclude", "failure", "open_response", "prepare"]


@dataclass
class Prepared:
    """Everything one request needs before it is sent."""

    entry: ModelEntry
    provider: str
    registered: Any  # provider_llm.llmhooks.Registered
    request: LlmRequest
    key: Any  # SecretStr | None: revealed only in the call that sends it
    clients: Clients = field(default_factory=Clients)

    def prompt_kwargs(self, stream: bool) -> dict[str, Any]:
        kwargs = self.request.prompt_kwargs()
        kwargs["stream"] = stream and self.entry.can_stream
        if self.key is not None:
            kwargs["key"] = self.key.get_secret_value()
        return kwargs


def _entry(cls: Any, model: str) -> ModelEntry:
    entry = cls.llm_models.get(model)
    if entry is None:
        raise ModelNotSupported(model, provider=cls.name)
    return entry


def _elsewhere(registered: Any, base_url: Any, key: Any) -> Any:
    """The llm models of ``registered`` sending to ``base_url`` (OpenAI-compatible llm
    models only: those with an ``api_base``). The stored key is never sent there: only a
    key given for the call."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise InvalidMessages([("base_url", f"must be an http:// or https:// URL, got {quoted_url(base_url)}")])
    if not hasattr(registered.primary, "api_base"):
        raise InvalidMessages([("base_url", "this llm model is not OpenAI-compatible (it has no api_base)")])

    def moved(model: Any) -> Any:
        if model is None:
            return None
        model = copy.copy(model)
        model.api_base = base_url.rstrip("/")
        model.needs_key = "api_key" if key is not None else None
        model.key = key.get_secret_value() if key is not None else None
        return model

    return Registered(moved(registered.model), moved(registered.async_model), registered.aliases)


def prepare(cls: Any, model: str, messages: Any, options: Mapping[str, Any]) -> Prepared:
    """Key, llm model and translated request for one call; raises before anything is sent."""
    entry = _entry(cls, model)
    given = options.get("api_key")
    key = None
    if entry.needs_key_now or given is not None:
        key = read_key_store(user_dir()).key_for(entry, given)
        if key is None:
            raise MissingKey(f"{cls.name}: {entry.id}: {missing_key_text(entry)}", provider=cls.name)
    registered = get_model(entry, cls.name)
    if options.get("base_url") is not None:
        registered = _elsewhere(registered, options["base_url"], key if given is not None else None)
        key = None  # carried by the moved model, or not sent at all
    request = build_request(entry, registered.primary, cls.name, messages, options)
    clients = Clients()
    registered = Registered(clients.track(registered.model), clients.track(registered.async_model), registered.aliases)
    return Prepared(entry, cls.name, registered, request, key, clients)


def open_response(prepared: Prepared, model: Any, stream: bool) -> Any:
    """``model.prompt(...)``: llm checks the options and the request here, before sending."""
    try:
        return model.prompt(**prepared.prompt_kwargs(stream))
    except Exception as exc:
        raise _refused(exc, prepared) from None


def _refused(exc: Exception, prepared: Prepared) -> ProviderError:
    """What llm's ``prompt()`` raising means: bad options are the caller's; a request the
    model cannot take is the model's (another provider may take it)."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        found = [
            (f"llm option {'.'.join(str(p) for p in e.get('loc', ()))}", str(e.get("msg", "")))
            for e in errors(include_url=False, include_input=False)
        ]
        return InvalidMessages(found or [("options", str(exc))], provider=prepared.provider)
    if isinstance(exc, (ValueError, TypeError)):
        reason = f"{prepared.provider}: llm model {prepared.entry.id!r} refused the request: {exc}"
        return ModelNotSupported(prepared.entry.id, provider=prepared.provider, reason=reason)
    return to_provider_error(exc, prepared.provider, prepared.entry.id)


def failure(exc: Exception, relay: Relay, prepared: Prepared) -> tuple[ProviderError, BaseException | None]:
    """The error to raise for ``exc`` met while relaying, and its cause (``None`` for an
    HTTP or network fault: the SDK's exception holds the request and its headers)."""
    error = to_provider_error(exc, prepared.provider, prepared.entry.id)
    cause = exc if type(error) is ProviderError else None
    if relay.delivered:
        return interrupted(error, prepared.provider, relay.chars, relay.delivered), cause
    return error, cause


def conclude(relay: Relay, prepared: Prepared, tool_calls: Any, usage: Any, response_json: Any) -> list[Event]:
    """The items that end a reply (:meth:`Relay.finish`), after checking that the reply
    is whole and not empty."""
    provider, model = prepared.provider, prepared.entry.id
    if cut_short(response_json):
        error = ProviderError(f"{provider}: the stream of {model!r} ended without a finish reason", provider=provider)
        raise interrupted(error, provider, relay.chars, relay.delivered) if relay.delivered else error
    tail = list(relay.finish(list(tool_calls or ()), usage, response_json))
    if not relay.delivered:
        raise EmptyResponse(f"{provider}: llm model {model!r} answered with no text", provider=provider)
    return tail
