"""``provider-core serve``: run the OpenAI-compatible gateway (:mod:`provider_core.gateway`).

Starlette and uvicorn are imported only when the command runs; without them it fails with
one line naming ``pip install 'provider-core[server]'``. Settings reach the app through the
environment (see :mod:`.config`), so that every ``--workers`` process, which uvicorn starts
fresh and which builds its own app with :func:`~provider_core.gateway.app.create_app`, is
configured alike. API keys are read from ``PROVIDER_CORE_API_KEYS`` or a file, never from
the command line, where other users could read them in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from . import startup
from .output import CLIError

if TYPE_CHECKING:
    from ..gateway import config as cfg

__all__ = ["add_parser", "run"]

APP_FACTORY = "provider_core.gateway.app:create_app"
PROTOCOL = "provider_core.gateway.protocol:GuardedH11Protocol"
DEFAULT_PORT = 8080
DEFAULT_GRACE = 30.0

DESCRIPTION = """\
Serve every installed provider through an OpenAI-compatible HTTP API:
GET /v1/models, GET /v1/providers, GET /healthz, GET /readyz, POST /v1/chat/completions
(SSE streaming or JSON), and GET /metrics with --metrics. Point any OpenAI client at
http://HOST:PORT/v1. Needs the web extra: pip install 'provider-core[server]'."""

EPILOG = """\
security:
  Without API keys only loopback Host names are served (a web page cannot reach the gateway
  through DNS rebinding); bodies must be JSON; a request without a valid key gets its 401
  before its body is read; a body must arrive within --body-timeout; connections beyond
  --max-connections get a 503 at once, and one that sends no request head within 10 s is
  closed (PROVIDER_CORE_HEADER_TIMEOUT).
environment:
  PROVIDER_CORE_API_KEYS       comma-separated keys; clients then send 'Authorization: Bearer KEY'
                               (/healthz and /readyz stay open). PROVIDER_CORE_API_KEYS_FILE: a file,
                               one key a line, or *.toml / *.json entries with per-key rpm and tpm
  PROVIDER_CORE_RATE_LIMIT_RPM, PROVIDER_CORE_RATE_LIMIT_TPM
                               requests / tokens per minute per key (all callers together without
                               keys); shared through Redis with PROVIDER_CORE_REDIS_URL; 429 beyond
  PROVIDER_CORE_TRACING        OpenTelemetry spans: off (default), on, console, otlp
                               (needs provider-core[tracing])
  PROMETHEUS_MULTIPROC_DIR     with --metrics and several workers: this instance's own directory
                               (default: a fresh temporary one, removed at exit)
  PROVIDER_CORE_CORS_ORIGINS   comma-separated origins allowed by CORS (default: CORS off)
  PROVIDER_CORE_ALLOWED_HOSTS  comma-separated Host names served without keys besides loopback ones
  PROVIDER_CORE_MAX_BODY_BYTES, PROVIDER_CORE_GATEWAY_THREADS, PROVIDER_CORE_INCLUDE_NOT_WORKING,
  PROVIDER_CORE_BODY_TIMEOUT, PROVIDER_CORE_MAX_CONNECTIONS, PROVIDER_CORE_METRICS,
  PROVIDER_CORE_SSE_KEEPALIVE  defaults for the options of the same meaning
See docs/gateway.md for endpoints, errors and security, docs/deploy.md for running several
instances behind a load balancer."""


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _seconds_or_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number of seconds, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {value}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to the CLI's subparsers."""
    from ..gateway import config as cfg  # here: every CLI start imports this module

    p = subparsers.add_parser(
        "serve",
        help="run the OpenAI-compatible HTTP gateway (needs provider-core[server])",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    p.add_argument(
        "--workers", type=_positive(int), default=1, metavar="N", help="worker processes, run by uvicorn (default 1)"
    )
    p.add_argument("--api-keys-file", metavar="PATH", help="turn on bearer auth with the keys in PATH, one a line")
    p.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="allow browser calls from ORIGIN (repeatable; '*' for any). Default: CORS off",
    )
    p.add_argument(
        "--max-body-bytes",
        type=_positive(int),
        metavar="N",
        help=f"largest request body accepted, 413 beyond (default {cfg.DEFAULT_MAX_BODY_BYTES:,})",
    )
    p.add_argument(
        "--threads",
        type=_positive(int),
        metavar="N",
        help=f"worker threads for providers per worker process; more streams wait (default {cfg.DEFAULT_THREADS})",
    )
    p.add_argument(
        "--include-not-working", action="store_true", help="also list and route to providers marked not working"
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=None,
        metavar="NAME",
        help="without API keys, also serve requests whose Host is NAME (repeatable; loopback names always are)",
    )
    p.add_argument(
        "--body-timeout",
        type=_positive(float),
        metavar="S",
        help=f"seconds a client may take to send its request body, 408 beyond (default {cfg.DEFAULT_BODY_TIMEOUT:g})",
    )
    p.add_argument(
        "--max-connections",
        type=_positive(int),
        metavar="N",
        help="open connections per worker process; more get a 503 at once (default: the open-file limit - 128)",
    )
    p.add_argument(
        "--graceful-timeout",
        type=_positive(float),
        default=DEFAULT_GRACE,
        metavar="S",
        help=f"on shutdown, let in-flight streams finish for up to S seconds (default {DEFAULT_GRACE:g})",
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help="serve Prometheus metrics at GET /metrics, one figure per instance (needs provider-core[metrics])",
    )
    p.add_argument(
        "--sse-keepalive",
        type=_seconds_or_zero,
        metavar="S",
        help="send a ': keep-alive' comment when a stream is silent for S seconds, so proxies keep it open; "
        f"a stream's status waits at most S for its first chunk (default {cfg.DEFAULT_KEEPALIVE:g}; 0: off)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="log level"
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    p.set_defaults(func=run)
    return p


def _settings_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment variables that carry the command's options to every worker."""
    from ..gateway import config as cfg  # here: every CLI start imports this module

    env = {}
    if args.api_keys_file:
        env[cfg.ENV_API_KEYS_FILE] = os.path.abspath(args.api_keys_file)
    if args.cors_origin:
        env[cfg.ENV_CORS] = ",".join(args.cors_origin)
    if args.max_body_bytes:
        env[cfg.ENV_MAX_BODY] = str(args.max_body_bytes)
    if args.threads:
        env[cfg.ENV_THREADS] = str(args.threads)
    if args.include_not_working:
        env[cfg.ENV_NOT_WORKING] = "1"
    hosts = list(args.allow_host or [])
    if args.host not in ("0.0.0.0", "::", "") and not _is_loopback(args.host):
        hosts.append(args.host)  # the address it binds is a Host a client legitimately sends
    if hosts:
        existing = os.environ.get(cfg.ENV_ALLOWED_HOSTS, "")
        env[cfg.ENV_ALLOWED_HOSTS] = ",".join(h for h in (existing, *hosts) if h)
    if args.body_timeout:
        env[cfg.ENV_BODY_TIMEOUT] = str(args.body_timeout)
    if args.max_connections:
        env["PROVIDER_CORE_MAX_CONNECTIONS"] = str(args.max_connections)
    if args.metrics:
        env[cfg.ENV_METRICS] = "1"
    if args.sse_keepalive is not None:
        env[cfg.ENV_KEEPALIVE] = repr(args.sse_keepalive)
    return env


def _check_extras(config: cfg.GatewayConfig) -> None:
    """Fail with one line when a feature's extra is missing (found without importing it:
    prometheus-client must not be imported before its multiprocess directory is set)."""
    from ..gateway import config as cfg

    if config.metrics and not _installed("prometheus_client"):
        raise CLIError("--metrics needs prometheus-client: pip install 'provider-core[metrics]'")
    if config.tracing != "off":
        needed = ["opentelemetry.trace"] + (["opentelemetry.sdk"] if config.tracing in ("console", "otlp") else [])
        if not all(_installed(name) for name in needed):
            raise CLIError(f"{cfg.ENV_TRACING}={config.tracing} needs pip install 'provider-core[tracing]'")


def _installed(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):  # a parent missing, or hidden (None in sys.modules)
        return False


def _metrics_directory() -> str | None:
    """Give the instance its own prometheus-client multiprocess directory, emptied: the
    one ``PROMETHEUS_MULTIPROC_DIR`` names, else a new temporary one (returned, to remove
    at exit). Every worker inherits it, so any of them answers for all."""
    import glob
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return None
    made = tempfile.mkdtemp(prefix="provider-core-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def _raise_open_file_limit() -> None:
    """Raise the soft limit on open files to the hard one: a server holds one per client."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # here, not at the top: every CLI start imports this module

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _summary(config: cfg.GatewayConfig, host: str) -> str:
    auth = (
        f"on ({len(config.api_keys)} key{'s' if len(config.api_keys) != 1 else ''})" if config.auth_enabled else "off"
    )
    cors = ", ".join(config.cors_origins) if config.cors_origins else "off"
    extras = []
    if config.rate_limited:
        extras.append(f"rate limits {config.rate_limit_rpm or '-'} rpm / {config.rate_limit_tpm or '-'} tpm")
    if config.metrics:
        extras.append("metrics on")
    if config.tracing != "off":
        extras.append(f"tracing {config.tracing}")
    more = "".join(f", {e}" for e in extras)
    return f"provider-core gateway: auth {auth}, body limit {config.max_body_bytes:,} bytes, CORS {cors}{more}"


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _exit_cleanly_on_stop_signals() -> None:
    """Make SIGTERM / SIGINT end the command with exit code 0.

    uvicorn shuts down gracefully on them, then re-raises the signal under the handler it
    found installed, so that with the default one the process would die of SIGTERM (exit
    -15, or a KeyboardInterrupt traceback) after a clean shutdown. Before uvicorn takes the
    signals over (while starting), they end the command at once, also with 0.
    """
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Check the web stack and settings, then hand over to uvicorn until shut down."""
    from ..gateway import config as cfg  # here: every CLI start imports this module

    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        missing = exc.name or "starlette/uvicorn"
        raise CLIError(
            f"serve needs the web extra ({missing} is missing): pip install 'provider-core[server]'"
        ) from None
    os.environ.update(_settings_env(args))
    try:
        config = cfg.GatewayConfig.from_env()
    except cfg.ConfigError as exc:
        raise CLIError(str(exc)) from None
    if not _is_loopback(args.host) and not config.auth_enabled:
        sys.stderr.write(
            f"warning: serving on {args.host} without API keys: anyone who can reach this port can use "
            "your providers; set PROVIDER_CORE_API_KEYS or --api-keys-file\n"
        )
    _check_extras(config)
    sys.stderr.write(_summary(config, args.host) + "\n")
    sys.stderr.flush()
    _raise_open_file_limit()
    _exit_cleanly_on_stop_signals()
    made = _metrics_directory() if config.metrics else None
    startup.ended()  # a server runs for long: the collector back on (provider_core.cli.startup)
    try:
        _serve(uvicorn, args)
    finally:
        if made is not None:
            import shutil

            shutil.rmtree(made, ignore_errors=True)
    return 0


def _serve(uvicorn: Any, args: argparse.Namespace) -> None:
    from ..gateway.logs import log_config

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=args.graceful_timeout,
        server_header=False,
        log_config=log_config(args.log_level),
        http=PROTOCOL,
    )
