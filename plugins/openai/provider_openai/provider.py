"""One provider class per configured endpoint, all sharing :class:`OpenAIEndpoint`.

``create_completion`` sends ``POST {base}/chat/completions``: with ``stream=True`` it reads
the server-sent events as they arrive and yields each content delta and each tool-call
delta, then the usage (asked for with ``stream_options.include_usage``) and the finish
reason; with ``stream=False`` it yields the JSON reply's text, its tool calls whole, its
usage and finish reason (:mod:`provider_core.events`). An endpoint that refuses
``stream_options`` (a 400 or 422) is asked once more without it, and never again with it
while the process runs. Errors, by when they happen:

* an HTTP error status: :class:`~provider_core.errors.ProviderHTTPError` with the
  endpoint's own message, ``error_type`` and ``error_code`` (429: ``retry_after``, which the
  core's circuit breaker honours: routing skips the endpoint until then);
* an error inside a 200 reply (``{"error": ...}`` as the body or as a stream event, or an
  ``event: error`` event) before any text: :class:`~provider_core.errors.UpstreamError`
  (the router may try the next candidate);
* the same after some text, or a stream that stops before ``[DONE]`` and without a
  ``finish_reason``: :class:`~provider_core.errors.StreamInterrupted` carrying the
  upstream message and how much text had arrived.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from provider_core.provider import AbstractProvider, CreateResult, Messages

if TYPE_CHECKING:
    from .config import EndpointConfig
    from .models import ModelList

__all__ = ["OpenAIEndpoint", "make_provider"]


class OpenAIEndpoint(AbstractProvider):
    """An endpoint speaking the OpenAI chat-completions protocol. Not registered itself:
    :func:`make_provider` derives one subclass per configured endpoint."""

    endpoint: ClassVar[EndpointConfig]
    supports_stream = True
    supports_message_history = True

    @classmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> CreateResult:
        """Send one chat completion; see the module documentation for the errors. Keywords:
        ``timeout`` (seconds or a (connect, read) pair), ``proxy``, ``system_message``,
        ``extra_headers`` (a dict), ``base_url`` (another server for this call; the
        endpoint's key is then not sent), ``extra_body`` (a dict merged into the request
        body, for a server's own arguments), and the arguments of OpenAI's chat completions
        (``tools``, ``tool_choice``, ``response_format``, ``max_tokens``, ``temperature``,
        ``top_p``, ``stop``, ``seed``, ...: :data:`~provider_openai.protocol.CHAT_ARGUMENTS`)
        sent as given; any other keyword is not sent."""
        from .calls import complete  # the request path: imported at the first call, not at every start

        return complete(cls, model, messages, stream, kwargs)


def _safe_class_name(name: str) -> str:
    return "OpenAIEndpoint_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def make_provider(endpoint: EndpointConfig, models: ModelList) -> type[OpenAIEndpoint]:
    """The provider class for ``endpoint``, serving ``models``.

    ``working`` is the configured flag, and false when the model list is unavailable or
    the API key variable is unset (``status_reason`` then says why). ``supports_gpt_4`` /
    ``supports_gpt_35_turbo`` say whether any model id contains ``gpt-4`` / ``gpt-3.5``.
    """
    ids = list(models.models)
    reason = models.problem
    if reason is None and not endpoint.working:
        reason = f"working = false in {endpoint.source}"
    default = endpoint.default_model if endpoint.default_model in models.models else None
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"The OpenAI-compatible endpoint {endpoint.name!r} ({endpoint.display_url}).",
        "name": endpoint.name,
        "url": endpoint.display_url,
        "working": endpoint.working and models.problem is None,
        "supports_stream": endpoint.supports_stream,
        "supports_tools": endpoint.supports_tools,
        "supports_vision": endpoint.supports_vision,
        "supports_json": endpoint.supports_json,
        "supports_gpt_4": any("gpt-4" in m.lower() for m in ids),
        "supports_gpt_35_turbo": any("gpt-3.5" in m.lower() for m in ids),
        "needs_auth": endpoint.api_key_env is not None,
        "models": MappingProxyType(dict(models.models)),
        "default_model": default,
        "priority": endpoint.priority,
        "status_reason": reason,
        "endpoint": endpoint,
    }
    cls = type(_safe_class_name(endpoint.name), (OpenAIEndpoint,), attrs)
    return cls
