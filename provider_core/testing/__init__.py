"""Test support for provider authors, registered as a pytest plugin (entry point ``pytest11``).

Every pytest run in an environment where provider-core is installed imports this module,
so it imports only pytest and the standard library; the registry, the server and the
contract suite are imported when a fixture or name is first used.

Fixtures:

``isolated_registry``
    an empty :class:`provider_core.Registry` that loads no entry points;
``registry_with_plugins``
    a factory: ``registry_with_plugins("aivvm", ...)`` is a registry that loads only the
    named entry points (case-insensitive); an unknown name fails the test, listing the
    installed ones;
``use_registry``
    ``use_registry(registry)`` makes ``registry`` the process-wide one (what
    :func:`provider_core.get_registry`, ``create_completion`` and the CLI use) until the
    test ends;
``loopback_server``
    a started :class:`~provider_core.testing.server.LoopbackServer` on 127.0.0.1 that
    replays scripted :class:`~provider_core.testing.server.Reply` objects (chunked bodies,
    delays, statuses, resets), stopped after the test.

Names: :class:`ProviderContract` (the contract suite, subclass it), :data:`RUNTIME_RULES`,
and ``LoopbackServer``, ``Reply``, ``RecordedRequest``, ``refused_url`` from
:mod:`provider_core.testing.server`.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ImportError:  # pragma: no cover - e.g. `python -m provider_aivvm.server` in a venv without pytest

    class _NoPytest:
        """Without pytest the fixtures below are plain functions; the server still imports."""

        @staticmethod
        def fixture(*args: Any, **kwargs: Any) -> Any:
            return args[0] if args and callable(args[0]) else (lambda fn: fn)

    pytest = _NoPytest()  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from ..registry import Registry
    from .contract_suite import RUNTIME_RULES, ProviderContract
    from .server import LoopbackServer, RecordedRequest, Reply, refused_url

__all__ = [
    "RUNTIME_RULES",
    "LoopbackServer",
    "ProviderContract",
    "RecordedRequest",
    "Reply",
    "refused_url",
]

_LAZY = {
    "ProviderContract": "contract_suite",
    "RUNTIME_RULES": "contract_suite",
    "LoopbackServer": "server",
    "RecordedRequest": "server",
    "Reply": "server",
    "refused_url": "server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


@pytest.fixture
def isolated_registry() -> Registry:
    """A :class:`provider_core.Registry` that loads no entry points (and no built-in plugins)."""
    from ..registry import Registry

    return Registry(load_entry_points=False)


def load_only(*names: str) -> Registry:
    """A loaded :class:`Registry` with only the entry points ``names`` of the group
    ``provider_core`` (whatever ``PROVIDER_CORE_PLUGINS`` / ``..._DISABLE_PLUGINS`` say).

    Raises :class:`LookupError` naming any name that is not installed, and
    :class:`ValueError` when no name is given. A named plugin that fails to load is not an
    error here: see ``registry.failed_plugins()``."""
    from ..plugins import ENV_ENABLE
    from ..registry import Registry

    if not names:
        raise ValueError("name at least one entry point (or use the isolated_registry fixture)")
    with warnings.catch_warnings():  # an unknown name is raised below, as an error
        warnings.filterwarnings("ignore", message=f"{ENV_ENABLE} names", category=RuntimeWarning)
        registry = Registry(environ={ENV_ENABLE: ",".join(names)}).load()
    entry_points = [info for info in registry.plugins() if info.status != "builtin"]  # not the breaker
    loaded = {info.name.split("@", 1)[0].lower() for info in entry_points if info.status != "disabled"}
    missing = [n for n in names if n.lower() not in loaded]
    if missing:
        installed = sorted({info.name.split("@", 1)[0] for info in entry_points}, key=str.lower)
        raise LookupError(
            f"no provider_core entry point named {', '.join(map(repr, missing))} is installed"
            f" (installed: {', '.join(installed) or 'none'})"
        )
    return registry


@pytest.fixture
def registry_with_plugins() -> Callable[..., Registry]:
    """``registry_with_plugins("aivvm", ...)``: a registry loading only those entry points."""

    def make(*names: str) -> Registry:
        try:
            return load_only(*names)
        except (LookupError, ValueError) as exc:
            pytest.fail(f"registry_with_plugins: {exc}", pytrace=False)

    return make


@pytest.fixture
def use_registry() -> Iterator[Callable[[Registry], Registry]]:
    """``use_registry(registry)``: the process-wide registry for the rest of the test."""
    from ..defaults import reset_registry

    undo: list[Callable[[], None]] = []

    def install(registry: Registry) -> Registry:
        undo.append(reset_registry(registry))
        return registry

    yield install
    for step in reversed(undo):
        step()


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A started scripted :class:`~provider_core.testing.server.LoopbackServer`; queue replies
    with ``loopback_server.enqueue(Reply(...))``, read ``loopback_server.requests``."""
    from .server import LoopbackServer

    with LoopbackServer() as server:
        yield server
