"""The exception hierarchy: every error the library raises is a :class:`ProviderError`.

Each class states *what* failed and *where* (which provider, which message, which
candidate), never a secret. ``fallback_ok`` tells the router whether trying the next
candidate can help: a fault of the provider (network, 5xx, 429, a broken plugin) can, a
fault of the request itself (bad messages, HTTP 400) cannot.

:class:`ProviderHTTPError` is also a :class:`requests.HTTPError`; it is built on first
use so that ``import provider_core`` does not import requests.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from .records import Record
from .secrets import redact_secrets

__all__ = [
    "Attempt",
    "EmptyResponse",
    "InvalidMessages",
    "ModelNotSupported",
    "NoProviderAvailable",
    "PluginLoadError",
    "ProviderConnectionError",
    "ProviderContractError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderNotFound",
    "ProviderTimeout",
    "StreamInterrupted",
    "UpstreamError",
    "ProviderNotWorkingWarning",
    "FallbackWarning",
    "DuplicateProviderWarning",
    "one_line",
    "summary",
]


def one_line(exc: BaseException) -> str:
    """The text of ``exc`` on one line, through the one redaction step: how every front end
    (the CLI's error line, the gateway's log, ``probe``) shows an error."""
    return redact_secrets(" ".join(str(exc).split()))


def summary(exc: BaseException, limit: int | None = None) -> str:
    """``"Type: first line of the message"`` (``"Type"`` for an empty message), redacted and
    at most ``limit`` characters: how a broken plugin, hook or upstream fault is named in a
    record (``plugins``, a circuit's last error)."""
    lines = str(exc).strip().splitlines()
    first = redact_secrets(" ".join(lines[0].split())) if lines else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:limit] if limit is not None else text


class ProviderError(Exception):
    """Base class of every error raised by provider-core and its plugins.

    ``provider`` names the provider at fault, where there is one.
    """

    #: Whether the router may try the next candidate after this error.
    fallback_ok: bool = True
    #: The CLI's exit code for it: 1 a provider or routing failure, 2 the caller's own input.
    exit_code: int = 1

    def __init__(self, message: str = "", *, provider: str | None = None) -> None:
        super().__init__(redact_secrets(message))  # upstream text may quote a key back
        self.provider = provider

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidMessages(ProviderError, ValueError):
    """The messages or options are not valid; nothing was sent.

    ``errors`` is a list of ``(location, reason)`` pairs, e.g.
    ``("messages[2].role", "Input should be 'system', 'user', 'assistant' or 'tool'")``.
    """

    fallback_ok = False
    exit_code = 2

    def __init__(self, errors: list[tuple[str, str]], *, provider: str | None = None) -> None:
        self.errors = list(errors)
        shown = "; ".join(f"{loc}: {why}" for loc, why in self.errors[:5])
        more = len(self.errors) - 5
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(f"invalid input: {shown}", provider=provider)


class ModelNotSupported(ProviderError, ValueError):
    """No provider (or not the named one) knows this model id.

    ``suggestions`` holds close matches among the known model ids.
    """

    fallback_ok = True
    exit_code = 2

    def __init__(
        self,
        model: str,
        *,
        provider: str | None = None,
        suggestions: list[str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.model = model
        self.suggestions = list(suggestions or [])
        where = f"provider {provider!r}" if provider else "any installed provider"
        text = reason or f"model {model!r} is not served by {where}"
        if self.suggestions:
            text += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(text, provider=provider)


class ProviderNotFound(ProviderError, LookupError):
    """No provider is registered under this name. ``suggestions`` holds the installed
    names closest to it (case-insensitively), for a typo."""

    fallback_ok = False
    exit_code = 2

    def __init__(self, name: str, *, known: list[str] | None = None) -> None:
        self.name = name
        self.known = list(known or [])
        self.suggestions = _close(name, self.known)
        text = f"no provider named {name!r}"
        if self.suggestions:
            text += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        if self.known:
            text += " (installed: " + ", ".join(self.known) + ")"
        super().__init__(text)


def _close(name: str, known: list[str]) -> list[str]:
    """The names in ``known`` closest to ``name``, ignoring case (difflib is imported only
    here, on the error path)."""
    if not known or not isinstance(name, str):
        return []
    import difflib

    by_key = {k.lower(): k for k in known}
    return [by_key[k] for k in difflib.get_close_matches(name.lower(), list(by_key), n=3, cutoff=0.6)]


class ProviderContractError(ProviderError, TypeError):
    """A provider class, or what its ``create_completion`` returned, breaks the contract.

    ``rule`` is the id of the broken rule (see :mod:`provider_core.contract`).
    """

    def __init__(self, message: str, *, provider: str | None = None, rule: str = "") -> None:
        self.rule = rule
        super().__init__(message, provider=provider)


class PluginLoadError(ProviderError):
    """A plugin could not be loaded or its hook raised; the other plugins are unaffected."""

    def __init__(self, plugin: str, reason: str, *, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.reason = reason
        self.distribution = distribution
        where = f"plugin {plugin!r}" + (f" ({distribution})" if distribution else "")
        super().__init__(f"{where} failed to load: {reason}")


class ProviderConnectionError(ProviderError):
    """The provider could not be reached.

    ``kind`` is one of ``"refused"``, ``"dns"``, ``"connect-timeout"``, ``"read-timeout"``,
    ``"reset"``, ``"proxy"``, ``"ssl"`` or ``"other"``; ``url`` is where it was going.
    """

    def __init__(self, message: str, *, provider: str | None = None, kind: str = "other", url: str = "") -> None:
        self.kind = kind
        self.url = url
        super().__init__(message, provider=provider)


class ProviderTimeout(ProviderConnectionError):
    """Connecting, or waiting for the next bytes, took longer than the timeout."""


class EmptyResponse(ProviderError):
    """The provider answered successfully but with no text at all."""


class UpstreamError(ProviderError):
    """The provider reported an error inside a successful (HTTP 200) reply before any text:
    an error event in its stream, or an error object as its body. ``error_type`` /
    ``error_code`` are the provider's own words for it; ``retry_after`` (seconds) where it
    said when to come back. The router may try the next candidate unless ``fallback_ok``
    is false (the provider called the request itself invalid)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        retry_after: float | None = None,
        fallback_ok: bool = True,
    ) -> None:
        self.error_type = error_type
        self.error_code = error_code
        self.retry_after = retry_after
        self.fallback_ok = fallback_ok
        super().__init__(message, provider=provider)


class StreamInterrupted(ProviderError):
    """The reply broke off after some text had already been delivered.

    No fallback happens after the first chunk, so the text is never silently switched
    to another provider mid-sentence. ``received_chars`` / ``received_chunks`` say how
    much arrived (``received_bytes`` where only the transport layer knew). When
    streaming, the caller holds every chunk it received and the library keeps no copy,
    so ``partial_text`` is ``None``; for ``stream=False`` it holds the text received
    before the fault. ``kind`` names the network fault behind it where there was one
    (as :attr:`ProviderConnectionError.kind`: ``"reset"``, ``"read-timeout"``, ...).
    """

    fallback_ok = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        received_chars: int = 0,
        received_chunks: int = 0,
        received_bytes: int = 0,
        partial_text: str | None = None,
        kind: str | None = None,
    ) -> None:
        self.kind = kind
        self.received_bytes = received_bytes
        self.received_chars = received_chars
        self.received_chunks = received_chunks
        self.partial_text = partial_text
        super().__init__(message, provider=provider)

    def keep_text(self, parts: list[str]) -> None:
        """Record ``parts``, the chunks received before the fault, as ``partial_text``
        (unless none arrived and the provider already attached its own)."""
        if parts or self.partial_text is None:
            self.partial_text = "".join(parts)


class Attempt(Record):
    """One candidate in a routing decision: skipped before trying, or tried and failed
    (``error``: what it raised). ``model`` is the model it was asked for when that is not
    the requested one (an alias's target); ``retry_after`` the seconds until it may be tried
    again, when known (an open circuit's reopening). Immutable."""

    _fields = ("provider", "reason", "error", "model", "retry_after")
    __slots__ = _fields
    _defaults: ClassVar = {"error": None, "model": None, "retry_after": None}
    provider: str
    reason: str
    error: BaseException | None
    model: str | None
    retry_after: float | None

    def __str__(self) -> str:
        who = f"{self.provider} ({self.model})" if self.model else self.provider
        return f"{who}: {self.reason}"


class NoProviderAvailable(ProviderError):
    """Every candidate for the model was skipped or failed; ``attempts`` says why, each."""

    def __init__(self, model: str, attempts: list[Attempt], hint: str = "") -> None:
        self.model = model
        self.attempts = list(attempts)
        self.hint = hint
        waits = [a.retry_after for a in self.attempts if a.retry_after is not None]
        #: Seconds until the earliest skipped candidate may be tried again, when known.
        self.retry_after: float | None = min(waits) if waits else None
        if self.attempts:
            detail = "; ".join(str(a) for a in self.attempts)
            text = f"no provider could serve {model!r}: {detail}"
        else:
            text = f"no provider serves {model!r}"
        if hint:
            text += f". {hint}"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), (self.model, self.attempts, self.hint)  # pickled as it was made


class ProviderNotWorkingWarning(UserWarning):
    """A provider marked not working was called because it was named explicitly."""


class FallbackWarning(UserWarning):
    """A candidate failed before its first chunk and the next one answered instead."""


class DuplicateProviderWarning(UserWarning):
    """Two plugins registered providers with one name; the first registered one is kept."""


def _build_http_error() -> type:
    import requests

    class ProviderHTTPError(ProviderError, requests.HTTPError):
        """The provider answered with an HTTP error status.

        Carries ``status_code``, ``provider``, the ``url`` (without its query string),
        a short ``body_excerpt`` (the provider's own error message where its body could
        be parsed), ``error_type`` / ``error_code`` (from such a body, else ``None``) and
        ``retry_after`` (seconds, from a 429/503). It keeps no reference to the response
        or request, so no header can leak through it.
        A 400, 413 or 422 means the request itself was refused: no fallback then.
        """

        def __init__(
            self,
            status_code: int,
            *,
            provider: str | None = None,
            url: str = "",
            body_excerpt: str = "",
            retry_after: float | None = None,
            reason: str = "",
            error_type: str | None = None,
            error_code: str | None = None,
        ) -> None:
            self.status_code = status_code
            self.error_type = error_type
            self.error_code = error_code
            self.url = url.split("?", 1)[0]
            self.body_excerpt = redact_secrets(body_excerpt)
            self.retry_after = retry_after
            self.fallback_ok = status_code not in (400, 413, 422)
            text = f"HTTP {status_code}"
            if reason:
                text += f" {reason}"
            if provider:
                text += f" from {provider}"
            if self.url:
                text += f" ({self.url})"
            if error_type:
                text += f": [{error_type}]"
            if body_excerpt:
                text += f"{'' if error_type else ':'} {body_excerpt}"
            ProviderError.__init__(self, text, provider=provider)
            self.response = None
            self.request = None

    ProviderHTTPError.__module__ = __name__
    ProviderHTTPError.__qualname__ = "ProviderHTTPError"
    return ProviderHTTPError


_http_error_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    if name == "ProviderHTTPError":
        with _http_error_lock:
            cls = globals().get(name)
            if cls is None:
                cls = globals()[name] = _build_http_error()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
