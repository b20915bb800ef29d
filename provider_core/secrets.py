"""Secrets: which provider options are keys or tokens, and how they stay out of every output.

The rules, applied by the core so that no provider has to remember them:

1. **Secret options.** A keyword option of :func:`provider_core.create_completion` is a
   secret when its name, lower-cased, is in :data:`SECRET_OPTION_NAMES` or ends with one
   of :data:`SECRET_OPTION_SUFFIXES` (``api_key``, ``token``, ``password``,
   ``openai_api_key``, ``refresh_token``, ...). Its ``str`` value is wrapped in
   :class:`pydantic.SecretStr` before any provider sees it (:func:`protect_options`), so
   ``repr()``, ``str()``, logging and tracebacks show ``'**********'``. A provider reads
   the value with :func:`reveal` (or ``.get_secret_value()``) exactly where it builds the
   header or body that carries it.
2. **Errors carry no secret.** The transport removes the values of sensitive request
   headers (:data:`SECRET_HEADERS`, e.g. ``authorization``) and of secret-named fields of
   the JSON body from any upstream error text it quotes, and drops credentials and the
   query string from every URL it names (:func:`safe_url`); urllib3's debug log of
   request targets loses their query strings (:func:`install_log_filters`). The router
   removes the secret option values from every exception it quotes, records or re-raises,
   the chained ones included (attempts, warnings, ``NoProviderAvailable``,
   ``StreamInterrupted``, ``--debug`` tracebacks): :func:`scrub`.
3. **What is not covered.** A provider that logs or prints a secret itself, or sends
   it somewhere in clear, is beyond the core's reach; a secret passed under a name that
   is not secret-named (say ``credentials=``) is not wrapped.

pydantic is imported only when a secret option is actually given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_OPTION_NAMES",
    "SECRET_OPTION_SUFFIXES",
    "SecretValues",
    "QueryRedactingFilter",
    "install_log_filters",
    "is_secret_name",
    "protect_options",
    "redact",
    "reveal",
    "safe_url",
    "scrub",
    "secret_values",
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


def is_secret_name(name: str) -> bool:
    """Whether an option or JSON field called ``name`` holds a secret."""
    lowered = name.lower()
    return lowered in SECRET_OPTION_NAMES or lowered.endswith(SECRET_OPTION_SUFFIXES)


def reveal(value: Any) -> Any:
    """The plain value behind a :class:`~pydantic.SecretStr` (anything else unchanged)."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def protect_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` with every secret-named ``str`` value wrapped in ``SecretStr``."""
    out = dict(options)
    for name, value in options.items():
        if isinstance(value, str) and is_secret_name(name):
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
    """``url`` without user name, password, query string or fragment: safe to show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed port or host: still drop what may be secret
        return re.sub(r"//[^/]*@", "//", url.split("?", 1)[0].split("#", 1)[0])
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """Redact ``secrets`` in place from ``exc`` and the exceptions chained to it: their
    string ``args`` and string attributes (``body_excerpt``, ``partial_text`` is left alone:
    it is the reply's own text). Returns ``exc``. Used by the router before it quotes,
    records or re-raises a provider's exception."""
    secrets = tuple(secrets)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and secrets:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in current.args)
            for name, value in list(vars(current).items()):
                if isinstance(value, str) and name != "partial_text":
                    setattr(current, name, redact(value, secrets))
        except (AttributeError, TypeError):  # an exception type with read-only fields
            pass
        current = current.__cause__ or current.__context__
    return exc


class QueryRedactingFilter(logging.Filter):
    """A :class:`logging.Filter` for urllib3's loggers: the request targets they log at
    DEBUG level lose their query string (where some APIs take ``?key=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_cut_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def _cut_query(text: str) -> str:
    head, sep, _ = text.partition("?")
    return f"{head}?{REDACTED}" if sep else text


def install_log_filters() -> None:
    """Add :class:`QueryRedactingFilter` to urllib3's loggers (once; the transport does it)."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactingFilter) for f in logger.filters):
            logger.addFilter(QueryRedactingFilter())
