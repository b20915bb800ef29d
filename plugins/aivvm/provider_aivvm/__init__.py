"""provider-core-aivvm: the Aivvm provider as a provider-core plugin.

provider-core finds this module through the entry point ``aivvm`` in the group
``provider_core`` and calls :func:`register_providers`. Importing it is cheap (no
requests, no network): the CLI imports every plugin at start-up.

``provider_aivvm.server`` is a loopback server speaking the Aivvm protocol, for tests and
demos; it is *not* the real service.
"""

from __future__ import annotations

from collections.abc import Callable

from provider_core import hookimpl

from .provider import DEFAULT_PROMPT, MODELS, Aivvm

__all__ = ["DEFAULT_PROMPT", "MODELS", "Aivvm", "register_providers"]
__version__ = "0.1.0"


@hookimpl
def register_providers(register: Callable[[type], type]) -> None:
    """Register :class:`Aivvm`."""
    register(Aivvm)
