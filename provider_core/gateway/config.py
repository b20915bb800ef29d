"""The gateway's settings: one frozen :class:`GatewayConfig`, read from the environment.

Every setting has an environment variable, so that ``--workers N`` (where uvicorn starts
fresh processes that each build their own app) configures every worker alike. API keys
never travel on a command line: they come from ``PROVIDER_CORE_API_KEYS`` or from a file
named by ``PROVIDER_CORE_API_KEYS_FILE`` (one key per line, ``#`` comments), and they are
left out of the config's ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ConfigError", "GatewayConfig"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_THREADS = 256
DEFAULT_DRAIN_BYTES = 16 * 1024 * 1024
#: Seconds a client may take to send its whole request body (a stalled one gets a 408).
DEFAULT_BODY_TIMEOUT = 20.0

ENV_API_KEYS = "PROVIDER_CORE_API_KEYS"
ENV_API_KEYS_FILE = "PROVIDER_CORE_API_KEYS_FILE"
ENV_MAX_BODY = "PROVIDER_CORE_MAX_BODY_BYTES"
ENV_CORS = "PROVIDER_CORE_CORS_ORIGINS"
ENV_NOT_WORKING = "PROVIDER_CORE_INCLUDE_NOT_WORKING"
ENV_THREADS = "PROVIDER_CORE_GATEWAY_THREADS"
ENV_ALLOWED_HOSTS = "PROVIDER_CORE_ALLOWED_HOSTS"
ENV_BODY_TIMEOUT = "PROVIDER_CORE_BODY_TIMEOUT"


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names the setting."""


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _read_keys_file(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the API keys file {path!r}: {exc.strerror or exc}") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise ConfigError(f"the API keys file {path!r} holds no key")
    return keys


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _api_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of ``PROVIDER_CORE_API_KEYS`` (and its file). A variable that is set but holds
    only separators is refused: authentication must never turn off by accident."""
    raw = env.get(ENV_API_KEYS, "")
    keys = _split(raw)
    if raw.strip() and not keys:
        raise ConfigError(
            f"{ENV_API_KEYS} is set but holds no key (only separators): refusing to serve without "
            "authentication; give at least one key, or unset it"
        )
    keys_file = env.get(ENV_API_KEYS_FILE, "").strip()
    if keys_file:
        keys += _read_keys_file(keys_file)
    return keys


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class GatewayConfig:
    """What the app enforces.

    ``api_keys``: accepted bearer tokens; empty means no authentication.
    ``max_body_bytes``: largest request body accepted (413 beyond).
    ``drain_bytes``: how much of an oversized body is read and discarded so that the client
    can finish sending and read the 413; beyond it the connection is closed instead.
    ``cors_origins``: origins allowed by CORS; empty means CORS is off.
    ``include_not_working``: list and route to providers marked not working too.
    ``threads``: worker threads for sync providers (a :class:`~provider_core.workers.WorkerPool`);
    streams beyond them wait their turn.
    ``allowed_hosts``: ``Host`` names served besides the loopback ones when auth is off.
    ``body_timeout``: seconds a client may take to send its request body (408 beyond).
    """

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    drain_bytes: int = DEFAULT_DRAIN_BYTES
    cors_origins: tuple[str, ...] = ()
    include_not_working: bool = False
    threads: int = DEFAULT_THREADS
    allowed_hosts: tuple[str, ...] = ()
    body_timeout: float = DEFAULT_BODY_TIMEOUT

    def __post_init__(self) -> None:
        if any(not isinstance(k, str) or not k or any(c.isspace() for c in k) for k in self.api_keys):
            raise ConfigError("API keys must be non-empty strings without spaces")
        for name in ("max_body_bytes", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.drain_bytes < 0:
            raise ConfigError(f"drain_bytes must not be negative, got {self.drain_bytes!r}")
        if not 0 < self.body_timeout < float("inf"):
            raise ConfigError(f"body_timeout must be a positive number of seconds, got {self.body_timeout!r}")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """Build the config from ``env`` (default ``os.environ``); see the module docstring.

        Raises :class:`ConfigError` naming the variable that is wrong.
        """
        env = os.environ if env is None else env
        keys = _api_keys(env)
        return cls(
            api_keys=tuple(dict.fromkeys(keys)),
            max_body_bytes=_positive_int(env, ENV_MAX_BODY, DEFAULT_MAX_BODY_BYTES),
            cors_origins=_split(env.get(ENV_CORS, "")),
            include_not_working=_flag(env, ENV_NOT_WORKING),
            threads=_positive_int(env, ENV_THREADS, DEFAULT_THREADS),
            allowed_hosts=_split(env.get(ENV_ALLOWED_HOSTS, "")),
            body_timeout=_seconds(env, ENV_BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT),
        )
