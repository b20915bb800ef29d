"""Endpoint configuration: the TOML file, the zero-config environment, and their errors.

Where the file is: ``$PROVIDER_CORE_CONFIG`` when set, else ``config.toml`` in the
platform's user configuration directory for ``provider-core`` (``~/.config/provider-core/``
on Linux). A missing file is no error; the plugin then serves only the zero-config
endpoint. The plugin reads the ``[openai]`` table; other tables belong to others.

::

    [openai.endpoints.ollama]
    base_url = "http://127.0.0.1:11434/v1"   # with the version prefix, like OPENAI_BASE_URL
    models = ["llama3.2", "qwen2.5-coder"]    # optional: else GET {base_url}/models (provider-core refresh)

    [openai.endpoints.openrouter]
    base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"        # the key's environment variable, never the key
    priority = 5

Zero-config: ``OPENAI_API_KEY`` and/or ``OPENAI_BASE_URL`` (default base
``https://api.openai.com/v1``) make one endpoint named ``openai``, unless the file defines
an endpoint of that name or sets ``[openai] env = false``.

Every problem is reported as ``FILE: KEY: what is wrong`` (a TOML syntax error gives its
line and column); an endpoint with a problem is left out, the others still load.

Reading the file is part of every command's start-up, so it is checked by the plain
functions of :mod:`provider_openai.fields` (strict: unknown keys, wrong types and bad
values are all reported), not by a pydantic model, whose construction would cost more
than the rest of the start-up together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from provider_core.secrets import remember
from provider_core.tomlcache import read_table

from .fields import FIELDS, ConfigError, check_fields
from .paths import ENV_API_KEY, ENV_BASE_URL, ENV_CONFIG, config_path

__all__ = [
    "DEFAULT_BASE_URL",
    "ConfigError",
    "EndpointConfig",
    "LoadedConfig",
    "load_config",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SECTION = "openai"
ZERO_CONFIG_NAME = "openai"

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARACTERS = _ALNUM | frozenset("_.-")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class EndpointConfig:
    """One OpenAI-compatible endpoint, as configured; immutable.

    Built from keyword arguments, the keys of a ``[openai.endpoints.NAME]`` table (see
    :data:`provider_openai.fields.FIELDS`) plus ``name``, ``source`` (where it was defined)
    and ``api_key``; a :class:`ConfigError` lists every problem. The key, read from the
    environment variable ``api_key_env``, is a :class:`pydantic.SecretStr` when read
    (``endpoint.api_key``, at the first request, which is when pydantic is imported); it
    never shows in a repr, a log or an error, and neither do ``headers`` and ``proxy``.
    """

    __slots__ = ("_secret", "_shown", "name", "source", *FIELDS)

    def __init__(self, *, name: str, base_url: Any = None, source: str = "", api_key: Any = None, **settings: Any):
        if base_url is not None:
            settings["base_url"] = base_url
        values = check_fields(settings)  # raises ConfigError
        for key, value in values.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "source", source)
        secret = api_key.get_secret_value() if hasattr(api_key, "get_secret_value") else api_key
        object.__setattr__(self, "_secret", secret or None)
        object.__setattr__(self, "_shown", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"EndpointConfig is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"EndpointConfig(name={self.name!r}, base_url={self.display_url!r}, source={self.source!r})"

    def to_dict(self) -> dict[str, Any]:
        """Every setting but the key, ``headers`` and ``proxy`` (which may carry secrets)."""
        hidden = {"headers", "proxy"}
        data = {key: getattr(self, key) for key in FIELDS if key not in hidden}
        return {"name": self.name, "source": self.source, **data, "base_url": self.display_url}

    @property
    def api_key(self) -> Any:
        """The key as a :class:`pydantic.SecretStr`, or ``None``."""
        if self._secret is None:
            return None
        if self._shown is None:
            from pydantic import SecretStr

            object.__setattr__(self, "_shown", SecretStr(self._secret))
        return self._shown

    @property
    def is_loopback(self) -> bool:
        """Whether the endpoint is on this machine (its model list is then always stale)."""
        return (urlsplit(self.base_url).hostname or "") in _LOOPBACK

    @property
    def ttl(self) -> float:
        """Seconds a fetched model list stays fresh: ``models_ttl``, else 0 for a loopback
        endpoint (a local server's list changes as models are pulled) and 1 hour otherwise."""
        if self.models_ttl is not None:
            return self.models_ttl
        return 0.0 if self.is_loopback else 3600.0

    @property
    def key_missing(self) -> bool:
        """``api_key_env`` is named but that variable is unset or empty."""
        return self.api_key_env is not None and self._secret is None

    @property
    def display_url(self) -> str:
        """``base_url`` without any user name or password in it."""
        parts = urlsplit(self.base_url)
        if "@" not in parts.netloc:
            return self.base_url
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


class LoadedConfig:
    """The endpoints that loaded, the problems found (one line each), and the file read."""

    __slots__ = ("endpoints", "errors", "path")

    def __init__(self) -> None:
        self.endpoints: list[EndpointConfig] = []
        self.errors: list[str] = []
        self.path: str | None = None

    def __repr__(self) -> str:
        return f"LoadedConfig(endpoints={self.endpoints!r}, errors={self.errors!r}, path={self.path!r})"


def _valid_name(name: str) -> bool:
    """An endpoint name: ``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``, checked without compiling a
    regular expression at every start that reads a config file."""
    return 0 < len(name) <= 64 and name[0] in _ALNUM and all(ch in _NAME_CHARACTERS for ch in name)


def _endpoint(
    name: str, table: Any, where: str, prefix: str, env: Mapping[str, str], errors: list[str]
) -> EndpointConfig | None:
    key = f"{prefix}.{name}"
    if not isinstance(table, dict):
        errors.append(f"{where}: {key}: must be a table ([{key}])")
        return None
    if not _valid_name(name):
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
        endpoint = EndpointConfig(name=name, source=where, api_key=secret, **table)
    except ConfigError as exc:
        errors.extend(f"{where}: {key}.{loc}: {why}" for loc, why in exc.problems)
        return None
    if (
        endpoint.models is not None
        and endpoint.default_model is not None
        and endpoint.default_model not in endpoint.models
    ):
        errors.append(f"{where}: {key}.default_model: {endpoint.default_model!r} is not one of its models")
        return None
    return endpoint


def _from_file(path: str, env: Mapping[str, str], result: LoadedConfig) -> bool:
    """Read the file's ``[openai]`` table into ``result``; returns the ``env`` setting."""
    where = path
    try:
        section = read_table(path, SECTION)  # the parsed table, cached while the file is unchanged
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
                api_key=key,
                source="environment",
            )
        )
    except ConfigError as exc:
        reasons = "; ".join(why for _, why in exc.problems)
        result.errors.append(f"environment: {ENV_BASE_URL}: {reasons}")


def load_config(environ: Mapping[str, str] | None = None, path: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Read the configuration file and the environment; never raises for a bad file or
    value (each problem is one line in ``errors``, and the endpoints that are fine load)."""
    env = os.environ if environ is None else environ
    result = LoadedConfig()
    use_env = _from_file(os.fspath(path) if path is not None else config_path(env), env, result)
    if use_env:
        _from_environment(env, result)
    return result
