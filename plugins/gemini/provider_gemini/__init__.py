"""provider-core-gemini: Google's Gemini API as one provider-core provider, ``Gemini``.

The hook, run by the registry when it loads:

``register_providers``
    Reads ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY`` when the first is unset) and
    ``GEMINI_BASE_URL`` from the environment and registers the ``Gemini`` provider with
    them (:func:`provider_gemini.provider.configure`). Without a key it is registered all
    the same, not working, its ``status_reason`` naming the variable to set. No network
    I/O happens here.

Importing this module is cheap: the standard library and the core's provider base class
only; requests and pydantic are imported when a key is read or a request is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provider_core import hookimpl

from .provider import Gemini, configure

__version__ = "0.1.0"
__all__ = ["Gemini", "__version__", "configure", "register_providers"]


@hookimpl
def register_providers(register: Callable[[type], type]) -> None:
    """Register the ``Gemini`` provider, configured from the environment as it is now."""
    register(configure(os.environ))
