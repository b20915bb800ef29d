"""The keys of an ``[openai.endpoints.NAME]`` table: their defaults and their checks.

Strict, like the pydantic model this replaces (whose construction cost more than the rest
of a command's start-up): an unknown key, a value of the wrong type (``true`` is not a
number, ``1`` is not a boolean) or a bad value is a problem naming the key; every problem of
a table is reported, not only the first. :func:`check_fields` raises one
:class:`ConfigError` listing them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from provider_core.secrets import remember_url, safe_url

__all__ = ["FIELDS", "ConfigError", "check_fields"]

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ENV_CHARACTERS = _LETTERS | frozenset("0123456789")
#: an HTTP token (RFC 9110); a str pattern, compiled (and cached by re) at its first use
_HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"


def _env_name(value: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``, checked without compiling a regular expression at every
    start that reads a config file."""
    return bool(value) and value[0] in _LETTERS and all(ch in _ENV_CHARACTERS for ch in value)


class ConfigError(ValueError):
    """Problems with one endpoint's settings: ``problems`` is a list of ``(key, reason)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{key}: {why}" for key, why in self.problems))


_INFINITY = float("inf")  # not math.inf: loading math is a part of every start with a config file


def _seconds(value: Any, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < _INFINITY:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}".lstrip())
    return float(value)


def _base_url(value: Any) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ValueError(f"must be a string such as 'http://127.0.0.1:11434/v1', got {type(value).__name__}")
    remember_url(value)  # a password in it is redacted from every output from now on
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {safe_url(value)!r}")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    return value.strip().rstrip("/")


def _api_key_env(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not _env_name(value)):
        raise ValueError(f"must be the name of an environment variable (like OPENAI_API_KEY), got {value!r}")
    return value


def _models(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        value = {m: m for m in value} if all(isinstance(m, str) for m in value) else value
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("must be a list of model ids, or a table of model id = display name")
    bad = [m for m in value if not m or not m.isprintable()]
    if bad:
        raise ValueError(f"model ids must be non-empty printable strings, got {bad[:3]!r}")
    if not value:
        raise ValueError("must not be empty (leave it out to fetch the list from the endpoint)")
    return dict(value)


def _timeout(value: Any) -> Any:
    if value is None:
        return None
    what = "must be a positive number of seconds or a [connect, read] pair"
    if isinstance(value, list):
        if len(value) != 2:
            raise ValueError(f"{what}, got {value!r}")
        return (_seconds(value[0], "connect"), _seconds(value[1], "read"))
    try:
        seconds = _seconds(value, "timeout")
    except ValueError:
        raise ValueError(f"{what}, got {value!r}") from None
    return (seconds, seconds)


def _models_ttl(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < _INFINITY:
        raise ValueError(f"must be a number of seconds, 0 or more, got {value!r}")
    return float(value)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be a table of header name = value")
    for name, text in value.items():
        if not isinstance(name, str) or not re.fullmatch(_HEADER_NAME, name):
            raise ValueError(f"{name!r} is not a valid header name")
        if not isinstance(text, str) or "\r" in text or "\n" in text:
            raise ValueError(f"the value of {name!r} must be a one-line string")
    return dict(value)


def _string(value: Any) -> Any:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number, got {value!r}")
    return value


def _max_tokens_param(value: Any) -> str:
    if value not in ("max_tokens", "max_completion_tokens"):
        raise ValueError(f"must be 'max_tokens' or 'max_completion_tokens', got {value!r}")
    return str(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


_REQUIRED = object()

#: Each key of an endpoint table: ``(default, check)``; ``check`` returns the value to
#: keep or raises ``ValueError`` with the reason.
FIELDS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "base_url": (_REQUIRED, _base_url),
    "api_key_env": (None, _api_key_env),
    "models": (None, _models),
    "default_model": (None, _string),
    "priority": (0, _integer),
    "timeout": (None, _timeout),
    "models_timeout": (5.0, _seconds),
    "models_ttl": (None, _models_ttl),
    "headers": (None, _headers),
    "proxy": (None, _string),
    "working": (True, _flag),
    "supports_stream": (True, _flag),
    "supports_tools": (True, _flag),
    "supports_vision": (True, _flag),
    "supports_json": (True, _flag),
    "max_tokens_param": ("max_tokens", _max_tokens_param),
    "stream_usage": (True, _flag),
}


def check_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """Every key of :data:`FIELDS`, checked from ``settings`` or defaulted; raises
    :class:`ConfigError` with every problem found (unknown keys included)."""
    problems = [(key, "unknown key") for key in settings if key not in FIELDS]
    values: dict[str, Any] = {}
    for key, (default, check) in FIELDS.items():
        if key not in settings:
            if default is _REQUIRED:
                problems.append((key, "is required"))
            values[key] = {} if key == "headers" else default
            continue
        try:
            values[key] = check(settings[key])
        except ValueError as exc:
            problems.append((key, str(exc)))
    if problems:
        raise ConfigError(problems)
    return values
