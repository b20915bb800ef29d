"""Secrets: which values are keys or tokens, and how they stay out of every output.

The rules, applied by the core so that no provider has to remember them:

1. **One book of secrets per process.** Every secret the library learns is written in it
   (:func:`remember`): secret-named options of a call (``api_key``, ``token``,
   ``password``, ``openai_api_key``, ``refresh_token``, ...; :func:`is_secret_name`), the
   values of sensitive headers the transport sends (:data:`SECRET_HEADERS`, and the
   credential after a scheme such as ``Bearer``), the password of a URL and the ``Basic``
   credential derived from it, secret-named query parameters, and keys a plugin reads
   from its configuration (plugins call :func:`remember`).
2. **One redaction step.** Every text that leaves the library passes through
   :func:`redact_secrets`, which replaces each remembered value by :data:`REDACTED`: the
   message of every :class:`~provider_core.errors.ProviderError` (so upstream text quoted
   in an error, an SSE error event or a non-JSON body included), the exceptions the router
   quotes, records or re-raises, chained ones included (:func:`scrub`), the CLI's error
   lines and ``--debug`` tracebacks, the gateway's error bodies and events, and the log
   records of provider-core's loggers and of the gateway's server
   (:class:`provider_core.logfilters.RedactingFilter`).
3. **Secret options travel wrapped.** A secret-named ``str`` option is wrapped in
   :class:`pydantic.SecretStr` before any provider sees it (:func:`protect_options`), so
   ``repr()``, ``str()``, logging and tracebacks show ``'**********'``. A provider reads
   the value with :func:`reveal` (or ``.get_secret_value()``) exactly where it builds the
   header or body that carries it. URLs named in errors lose their credentials and query
   string (:func:`safe_url`); urllib3's debug log of request targets loses its query
   strings (:mod:`provider_core.logfilters`).
4. **What is not covered.** A provider that logs or prints a secret itself, or sends it
   somewhere in clear, is beyond the core's reach; a secret passed under a name that is
   not secret-named (say ``credentials=``), and never sent in a sensitive header, is not
   known to the book.

pydantic is imported only when a secret option is actually given.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_OPTION_NAMES",
    "SECRET_OPTION_SUFFIXES",
    "SecretValues",
    "is_secret_name",
    "protect_options",
    "quoted_url",
    "redact",
    "redact_secrets",
    "remember",
    "remember_request",
    "remember_url",
    "reveal",
    "safe_url",
    "scrub",
    "secret_values",
    "secrets_known",
]

#: What a secret is replaced with in any text the core writes.
REDACTED = "[redacted]"
#: Option (and JSON field) names that hold a secret, compared lower-cased.
SECRET_OPTION_NAMES = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "auth", "auth_token", "authorization", "bearer_token"}
    | {"password", "passwd", "secret", "client_secret", "cookie", "session_token", "private_key"}
)
#: Name endings that make an option a secret (``openai_api_key``, ``refresh_token``, ...).
SECRET_OPTION_SUFFIXES = ("_api_key", "_apikey", "_token", "_secret", "_password")
#: Request headers whose values are secrets, compared lower-cased.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token", "x-goog-api-key"}
)
#: Shorter values are not searched for in text (an empty or 1-character "secret" would
#: redact everything); such a value is not a usable key anyway.
MIN_REDACT_LENGTH = 4
#: Values the book keeps at most (the oldest go first): far more than one process uses.
BOOK_SIZE = 1024
#: Shorter values are not written in the book: it redacts every text of the process, and a
#: short value would cut ordinary words out of unrelated messages (real keys are longer).
BOOK_MIN_LENGTH = 8


class _Book:
    """The secret values this process has seen (insertion-ordered, bounded), and the same
    values longest first for :meth:`redact` (so a key is never half-replaced by a shorter
    one it contains). Reads take no lock: the sorted tuple is replaced whole."""

    def __init__(self) -> None:
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()
        self.sorted: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < BOOK_MIN_LENGTH or value in self._values:
            return
        with self._lock:
            self._values[value] = None
            while len(self._values) > BOOK_SIZE:
                del self._values[next(iter(self._values))]
            self.sorted = tuple(sorted(self._values, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values = {}
            self.sorted = ()


_book = _Book()


def remember(*values: Any) -> None:
    """Add ``values`` (``str`` or ``SecretStr``; others are ignored) to the process's book
    of secrets: from now on :func:`redact_secrets` removes them from every text the
    library writes. A plugin calls it for each key it reads from its configuration."""
    for value in values:
        value = reveal(value)
        if isinstance(value, str):
            _book.add(value)


def remember_url(url: str) -> None:
    """Remember the credentials a URL carries: its password (and the ``Basic``
    credential an HTTP client derives from user and password) and the values of its
    secret-named query parameters (``?key=...``)."""
    if "@" not in url and "?" not in url:
        return
    import base64
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if password:
        remember(password, unquote(password))
        plain = f"{unquote(user or '')}:{unquote(password)}"
        remember(base64.b64encode(plain.encode("utf-8")).decode("ascii"))
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if is_secret_name(name):
            remember(value)


def remember_request(url: str, headers: Mapping[str, str] | None) -> None:
    """Remember what a request is about to carry: the values of its sensitive headers
    (and the credential after ``Bearer``/``Basic``) and its URL's credentials. The
    transport calls it before sending, so an upstream that quotes them back is redacted."""
    if headers:
        for name, value in headers.items():
            if isinstance(value, str) and name.lower() in SECRET_HEADERS:
                remember(value, *value.split()[1:])
    remember_url(url)


def secrets_known() -> bool:
    """Whether the book holds any secret (when it does not, there is nothing to redact)."""
    return bool(_book.sorted)


def redact_secrets(text: str) -> str:
    """``text`` with every value of the book replaced by :data:`REDACTED` (the one
    redaction step every outgoing text passes through)."""
    for secret in _book.sorted:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def is_secret_name(name: str) -> bool:
    """Whether an option or JSON field called ``name`` holds a secret."""
    lowered = name.lower()
    return lowered in SECRET_OPTION_NAMES or lowered.endswith(SECRET_OPTION_SUFFIXES)


def reveal(value: Any) -> Any:
    """The plain value behind a :class:`~pydantic.SecretStr` (anything else unchanged)."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def protect_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` with every secret-named ``str`` value wrapped in ``SecretStr``
    (and every secret-named value remembered, see :func:`remember`)."""
    out = dict(options)
    for name, value in options.items():
        if is_secret_name(name):
            remember(value)
            if isinstance(value, str):
                from pydantic import SecretStr

                out[name] = SecretStr(value)
    return out


def secret_values(
    options: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> SecretValues:
    """The secret strings found in ``options`` (secret-named), ``headers``
    (:data:`SECRET_HEADERS`, plus the credential after a scheme such as ``Bearer``) and a
    JSON ``body`` (secret-named fields, at any depth). Longest first, for :func:`redact`."""
    if not options and not headers and body is None:
        return ()  # the common case of a request without options: no set, no sort
    found: set[str] = set()
    for name, value in (options or {}).items():
        if is_secret_name(name):
            found.add(str(reveal(value)))
    for name, value in (headers or {}).items():
        if name.lower() in SECRET_HEADERS and isinstance(value, str):
            found.add(value)
            found.update(value.split()[1:])
    _collect_body(body, found, depth=0)
    return SecretValues(sorted((s for s in found if len(s) >= MIN_REDACT_LENGTH), key=len, reverse=True))


class SecretValues(tuple):  # type: ignore[type-arg]
    """The secret strings :func:`secret_values` found; a tuple whose ``repr`` hides them."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} secret value(s) hidden>"

    __str__ = __repr__


def _collect_body(body: Any, found: set[str], depth: int) -> None:
    if depth > 8:
        return
    if isinstance(body, Mapping):
        for name, value in body.items():
            if isinstance(name, str) and is_secret_name(name) and isinstance(reveal(value), str):
                found.add(reveal(value))
            else:
                _collect_body(value, found, depth + 1)
    elif isinstance(body, (list, tuple)):
        for item in body[:1000]:
            _collect_body(item, found, depth + 1)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by :data:`REDACTED`."""
    for secret in secrets:
        if len(secret) >= MIN_REDACT_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def safe_url(url: str) -> str:
    """``url`` without user name, password, query string or fragment: safe to show. A URL
    with no ``@``, ``?`` or ``#`` has none of them and is returned as it is, without
    loading ``urllib.parse`` (every listing shows each provider's URL through here)."""
    if "@" not in url and "?" not in url and "#" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed port or host: still drop what may be secret
        head = url.split("?", 1)[0].split("#", 1)[0]
        scheme, sep, rest = head.partition("//")
        return scheme + sep + rest.rsplit("@", 1)[-1] if sep else head
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def quoted_url(value: object) -> str:
    """How a message that refuses a URL setting quotes the value: a string as
    :func:`safe_url` shows it, in quotes; anything else by its type's name. A refused URL was
    never sent, so its password was never remembered for redaction: it must not be quoted."""
    return repr(safe_url(value)) if isinstance(value, str) else type(value).__name__


def scrub(exc: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """Redact the book's values and ``secrets`` in place from ``exc`` and the exceptions
    chained to it: their string ``args`` and string attributes (``body_excerpt``;
    ``partial_text`` is left alone: it is the reply's own text). Returns ``exc``. Used by the
    router before it quotes, records or re-raises a provider's exception."""
    extra = tuple(s for s in secrets if len(s) >= MIN_REDACT_LENGTH)

    def clean(text: str) -> str:
        return redact(redact_secrets(text), extra) if extra else redact_secrets(text)

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and (extra or _book.sorted):
        seen.add(id(current))
        try:
            current.args = tuple(clean(a) if isinstance(a, str) else a for a in current.args)
            for name, value in list(vars(current).items()):
                if isinstance(value, str) and name != "partial_text":
                    setattr(current, name, clean(value))
        except (AttributeError, TypeError):  # an exception type with read-only fields
            pass
        current = current.__cause__ or current.__context__
    return exc
