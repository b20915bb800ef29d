"""Endpoint configuration: the TOML file, the zero-config environment, and their errors.

Where the file is: ``$PROVIDER_CORE_CONFIG`` when set, else ``config.toml`` in the
platform's user configuration directory for ``provider-core`` (``~/.config/provider-core/``
on Linux). A missing file is no error; the plugin then serves only the zero-config
endpoint. The plugin reads the ``[openai]`` table; other tables belong to others.

::

    [openai.endpoints.ollama]
    base_url = "http://127.0.0.1:11434/v1"   # with the version prefix, like OPENAI_BASE_URL
    models = ["llama3.2", "qwen2.5-coder"]    # optional: else GET {base_url}/models, cached

    [openai.endpoints.openrouter]
    base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"        # the key's environment variable, never the key
    priority = 5

Zero-config: ``OPENAI_API_KEY`` and/or ``OPENAI_BASE_URL`` (default base
``https://api.openai.com/v1``) make one endpoint named ``openai``, unless the file defines
an endpoint of that name or sets ``[openai] env = false``.

Every problem is reported as ``FILE: KEY: what is wrong`` (a TOML syntax error gives its
line and column); an endpoint with a problem is left out, the others still load.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictInt, ValidationError, field_validator

from provider_core.secrets import remember, remember_url, safe_url

from .paths import ENV_API_KEY, ENV_BASE_URL, ENV_CONFIG, config_path

__all__ = [
    "DEFAULT_BASE_URL",
    "EndpointConfig",
    "LoadedConfig",
    "load_config",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SECTION = "openai"
ZERO_CONFIG_NAME = "openai"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


class EndpointConfig(BaseModel):
    """One OpenAI-compatible endpoint, as configured. ``api_key`` comes from the
    environment variable ``api_key_env``; it is a :class:`~pydantic.SecretStr`, so it never
    shows in a repr, a log or an error. ``source`` says where the endpoint was defined."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    base_url: str
    api_key_env: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    models: dict[str, str] | None = None
    default_model: str | None = None
    priority: StrictInt = 0
    timeout: tuple[float, float] | None = None
    models_timeout: float = 5.0
    models_ttl: float | None = None
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    working: StrictBool = True
    supports_stream: StrictBool = True
    supports_tools: StrictBool = True
    supports_vision: StrictBool = True
    supports_json: StrictBool = True
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    stream_usage: StrictBool = True
    proxy: str | None = Field(default=None, repr=False)
    source: str = ""

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string such as 'http://127.0.0.1:11434/v1', got {type(value).__name__}")
        remember_url(value)  # a password in it is redacted from every output from now on
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {safe_url(value)!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.strip().rstrip("/")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _api_key_env(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _ENV_NAME.fullmatch(value)):
            raise ValueError(f"must be the name of an environment variable (like OPENAI_API_KEY), got {value!r}")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, value: Any) -> Any:
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
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
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

    @field_validator("models_timeout", mode="before")
    @classmethod
    def _models_timeout(cls, value: Any) -> float:
        return _seconds(value, "models_timeout")

    @field_validator("models_ttl", mode="before")
    @classmethod
    def _models_ttl(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"must be a number of seconds, 0 or more, got {value!r}")
        return float(value)

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a table of header name = value")
        for name, text in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if not isinstance(text, str) or "\r" in text or "\n" in text:
                raise ValueError(f"the value of {name!r} must be a one-line string")
        return value

    @field_validator("default_model", "proxy", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"must be a non-empty string, got {value!r}")
        return value

    @property
    def is_loopback(self) -> bool:
        """Whether the endpoint is on this machine (its model list is then never cached)."""
        return (urlsplit(self.base_url).hostname or "") in _LOOPBACK

    @property
    def ttl(self) -> float:
        """Seconds a fetched model list is reused: ``models_ttl``, else 0 for a loopback
        endpoint (a local server's list changes as models are pulled) and 1 hour otherwise."""
        if self.models_ttl is not None:
            return self.models_ttl
        return 0.0 if self.is_loopback else 3600.0

    @property
    def key_missing(self) -> bool:
        """``api_key_env`` is named but that variable is unset or empty."""
        return self.api_key_env is not None and self.api_key is None

    @property
    def display_url(self) -> str:
        """``base_url`` without any user name or password in it."""
        parts = urlsplit(self.base_url)
        if "@" not in parts.netloc:
            return self.base_url
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


@dataclass
class LoadedConfig:
    """The endpoints that loaded, the problems found (one line each), and the file read."""

    endpoints: list[EndpointConfig] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    path: Path | None = None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _reason(err: Mapping[str, Any]) -> str:
    text = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if err["type"] == "extra_forbidden":
        text = "unknown key"
    elif err["type"] == "missing":
        text = "is required"
    return text


def _endpoint(
    name: str, table: Any, where: str, prefix: str, env: Mapping[str, str], errors: list[str]
) -> EndpointConfig | None:
    key = f"{prefix}.{name}"
    if not isinstance(table, dict):
        errors.append(f"{where}: {key}: must be a table ([{key}])")
        return None
    if not _NAME.fullmatch(name):
        errors.append(
            f"{where}: {key}: endpoint names are 1-64 letters, digits, '.', '_' or '-' (no spaces), got {name!r}"
        )
        return None
    if "api_key" in table:
        errors.append(
            f"{where}: {key}.api_key: keys are never stored in the config file; put the key in an environment "
            f"variable and name it with api_key_env"
        )
        return None
    blocked = sorted(set(table) & {"name", "source"})
    if blocked:
        errors.append(f"{where}: {key}.{blocked[0]}: unknown key")
        return None
    api_key_env = table.get("api_key_env")
    secret = env.get(api_key_env) if isinstance(api_key_env, str) else None
    remember(secret)
    try:
        endpoint = EndpointConfig(name=name, source=where, api_key=SecretStr(secret) if secret else None, **table)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(part) for part in err["loc"])
            errors.append(f"{where}: {key}{'.' + loc if loc else ''}: {_reason(err)}")
        return None
    if (
        endpoint.models is not None
        and endpoint.default_model is not None
        and endpoint.default_model not in endpoint.models
    ):
        errors.append(f"{where}: {key}.default_model: {endpoint.default_model!r} is not one of its models")
        return None
    return endpoint


def _from_file(path: Path, env: Mapping[str, str], result: LoadedConfig) -> bool:
    """Read the file's ``[openai]`` table into ``result``; returns the ``env`` setting."""
    where = str(path)
    try:
        data = _read_toml(path)
    except FileNotFoundError:
        if env.get(ENV_CONFIG):
            result.errors.append(f"{where}: file not found (named by {ENV_CONFIG})")
        return True
    except OSError as exc:
        result.errors.append(f"{where}: cannot be read: {exc.strerror or exc}")
        return True
    except ValueError as exc:  # tomllib.TOMLDecodeError: the message has the line and column
        result.errors.append(f"{where}: invalid TOML: {exc}")
        return True
    result.path = path
    section = data.get(SECTION)
    if section is None:
        return True
    if not isinstance(section, dict):
        result.errors.append(f"{where}: {SECTION}: must be a table ([{SECTION}])")
        return True
    for extra in sorted(set(section) - {"endpoints", "env"}):
        result.errors.append(f"{where}: {SECTION}.{extra}: unknown key (expected 'endpoints' or 'env')")
    use_env = section.get("env", True)
    if not isinstance(use_env, bool):
        result.errors.append(f"{where}: {SECTION}.env: must be true or false, got {use_env!r}")
        use_env = True
    endpoints = section.get("endpoints", {})
    prefix = f"{SECTION}.endpoints"
    if not isinstance(endpoints, dict):
        result.errors.append(f"{where}: {prefix}: must be a table of endpoints ([{prefix}.NAME])")
        return use_env
    seen: dict[str, str] = {}
    for name, table in endpoints.items():
        endpoint = _endpoint(name, table, where, prefix, env, result.errors)
        if endpoint is None:
            continue
        if name.lower() in seen:
            result.errors.append(f"{where}: {prefix}.{name}: same name as {seen[name.lower()]!r} (names ignore case)")
            continue
        seen[name.lower()] = name
        result.endpoints.append(endpoint)
    return use_env


def _from_environment(env: Mapping[str, str], result: LoadedConfig) -> None:
    key = env.get(ENV_API_KEY) or None
    base = env.get(ENV_BASE_URL) or None
    remember(key)
    if key is None and base is None:
        return
    if any(e.name.lower() == ZERO_CONFIG_NAME for e in result.endpoints):
        return  # the file's own endpoint of that name wins
    try:
        result.endpoints.append(
            EndpointConfig(
                name=ZERO_CONFIG_NAME,
                base_url=base or DEFAULT_BASE_URL,
                api_key_env=ENV_API_KEY if key else None,
                api_key=SecretStr(key) if key else None,
                source="environment",
            )
        )
    except ValidationError as exc:
        reasons = "; ".join(_reason(e) for e in exc.errors(include_url=False, include_input=False))
        result.errors.append(f"environment: {ENV_BASE_URL}: {reasons}")


def load_config(environ: Mapping[str, str] | None = None, path: Path | None = None) -> LoadedConfig:
    """Read the configuration file and the environment; never raises for a bad file or
    value (each problem is one line in ``errors``, and the endpoints that are fine load)."""
    env = os.environ if environ is None else environ
    result = LoadedConfig()
    use_env = _from_file(path or config_path(env), env, result)
    if use_env:
        _from_environment(env, result)
    return result
