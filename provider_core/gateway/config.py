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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: every CLI start imports this module, only serve reads keys
    from .keys import KeyEntry

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
ENV_RPM = "PROVIDER_CORE_RATE_LIMIT_RPM"
ENV_TPM = "PROVIDER_CORE_RATE_LIMIT_TPM"
ENV_METRICS = "PROVIDER_CORE_METRICS"
ENV_TRACING = "PROVIDER_CORE_TRACING"
ENV_KEEPALIVE = "PROVIDER_CORE_SSE_KEEPALIVE"
#: Seconds between ``: keep-alive`` comments while a stream is silent.
DEFAULT_KEEPALIVE = 15.0
TRACING_MODES = ("off", "on", "console", "otlp")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot use; the message names the setting."""


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


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


def _api_keys(env: Mapping[str, str]) -> tuple[KeyEntry, ...]:
    """The keys of ``PROVIDER_CORE_API_KEYS`` and of its file (whose entries win, with their
    limits). A variable that is set but holds only separators is refused: authentication
    must never turn off by accident."""
    raw = env.get(ENV_API_KEYS, "")
    keys = _split(raw)
    if raw.strip() and not keys:
        raise ConfigError(
            f"{ENV_API_KEYS} is set but holds no key (only separators): refusing to serve without "
            "authentication; give at least one key, or unset it"
        )
    from .keys import KeyEntry, KeysError, read_keys_file

    entries = {key: KeyEntry.plain(key) for key in keys}
    keys_file = env.get(ENV_API_KEYS_FILE, "").strip()
    if keys_file:
        try:
            entries.update((e.key, e) for e in read_keys_file(keys_file))
        except KeysError as exc:
            raise ConfigError(str(exc)) from None
    return tuple(entries.values())


def _whole(env: Mapping[str, str], name: str) -> int:
    """A whole number >= 0 (0 when unset)."""
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (0: no limit), got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _keepalive(env: Mapping[str, str]) -> float:
    raw = env.get(ENV_KEEPALIVE, "").strip()
    if raw in ("0", "off"):
        return 0.0
    return _seconds(env, ENV_KEEPALIVE, DEFAULT_KEEPALIVE)


def _tracing(env: Mapping[str, str]) -> str:
    raw = env.get(ENV_TRACING, "").strip().lower() or "off"
    raw = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}.get(raw, raw)
    if raw not in TRACING_MODES:
        raise ConfigError(f"{ENV_TRACING} must be one of {', '.join(TRACING_MODES)}, got {raw!r}")
    return raw


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
    ``key_entries``: the keys with an id or limits of their own (from a TOML / JSON keys
    file); every key of ``api_keys`` not among them goes by its default id and limits.
    ``rate_limit_rpm`` / ``rate_limit_tpm``: requests and tokens per minute per key (all
    callers together without keys); 0: no limit.
    ``metrics``: serve ``GET /metrics``; ``tracing``: one of :data:`TRACING_MODES`.
    ``sse_keepalive``: seconds of silence before a stream gets a ``: keep-alive`` comment
    (and the longest a stream's status waits for its first chunk); 0: none.
    """

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    drain_bytes: int = DEFAULT_DRAIN_BYTES
    cors_origins: tuple[str, ...] = ()
    include_not_working: bool = False
    threads: int = DEFAULT_THREADS
    allowed_hosts: tuple[str, ...] = ()
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    key_entries: tuple[KeyEntry, ...] = field(default=(), repr=False)
    rate_limit_rpm: int = 0
    rate_limit_tpm: int = 0
    metrics: bool = False
    tracing: str = "off"
    sse_keepalive: float = DEFAULT_KEEPALIVE

    def __post_init__(self) -> None:
        missing = tuple(e.key for e in self.key_entries if e.key not in self.api_keys)
        if missing:  # an entry's key is an accepted key
            object.__setattr__(self, "api_keys", self.api_keys + missing)
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
        if not 0 <= self.sse_keepalive < float("inf"):
            raise ConfigError(f"sse_keepalive must be 0 or a positive number of seconds, got {self.sse_keepalive!r}")
        if self.tracing not in TRACING_MODES:
            raise ConfigError(f"tracing must be one of {', '.join(TRACING_MODES)}, got {self.tracing!r}")

    def entries(self) -> tuple[KeyEntry, ...]:
        """Every accepted key with its id and limits (``key_entries`` first)."""
        from .keys import KeyEntry

        given = {e.key for e in self.key_entries}
        return self.key_entries + tuple(KeyEntry.plain(k) for k in self.api_keys if k not in given)

    @property
    def rate_limited(self) -> bool:
        """Whether any limit applies (gateway-wide or a key's own)."""
        return bool(self.rate_limit_rpm or self.rate_limit_tpm) or any(e.rpm or e.tpm for e in self.key_entries)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """Build the config from ``env`` (default ``os.environ``); see the module docstring.

        Raises :class:`ConfigError` naming the variable that is wrong.
        """
        env = os.environ if env is None else env
        entries = _api_keys(env)
        return cls(
            api_keys=tuple(e.key for e in entries),
            key_entries=entries,
            max_body_bytes=_positive_int(env, ENV_MAX_BODY, DEFAULT_MAX_BODY_BYTES),
            cors_origins=_split(env.get(ENV_CORS, "")),
            include_not_working=_flag(env, ENV_NOT_WORKING),
            threads=_positive_int(env, ENV_THREADS, DEFAULT_THREADS),
            allowed_hosts=_split(env.get(ENV_ALLOWED_HOSTS, "")),
            body_timeout=_seconds(env, ENV_BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT),
            rate_limit_rpm=_whole(env, ENV_RPM),
            rate_limit_tpm=_whole(env, ENV_TPM),
            metrics=_flag(env, ENV_METRICS),
            tracing=_tracing(env),
            sse_keepalive=_keepalive(env),
        )
