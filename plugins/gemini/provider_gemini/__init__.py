"""provider-core-gemini: Google's Gemini API as one provider-core provider, ``Gemini``.

The hooks:

``register_providers``
    Reads ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY`` when the first is unset) and
    ``GEMINI_BASE_URL`` from the environment and registers the ``Gemini`` provider with
    them (:func:`provider_gemini.provider.configure`), serving the shipped models plus the
    ids of the live list provider-core's model catalog last fetched (read from its cache).
    Without a key it is registered all the same, not working, its ``status_reason``
    naming the variable to set. When the list's last fetch failed, its problem is a
    warning of this plugin (``provider-core plugins``). No network I/O happens here.

``fetch_models``
    ``GET {base}/v1beta/models``, every page, with the environment's key: the live list,
    for the catalog (``provider-core refresh``, a gateway, a request for an unknown model;
    :func:`provider_gemini.listing.live_model_ids`).

Importing this module is cheap: the standard library and the core's provider base class
only; requests and pydantic are imported when a key is read or a request is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from provider_core import hookimpl

from .provider import Gemini, configure

__version__ = "0.1.0"
__all__ = ["Gemini", "__version__", "configure", "fetch_models", "register_providers"]


@hookimpl
def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
    """Register the ``Gemini`` provider, configured from the environment as it is now, with
    the model catalog's cached live ids; warn about the list's last failure."""
    from provider_core.modelcache import with_cached_models

    provider, problem = with_cached_models(configure(os.environ))
    register(provider)
    if problem:
        warn(problem)


@hookimpl
def fetch_models(provider: type) -> list[str] | None:
    """The live model ids of a ``Gemini`` provider (``None`` for any other, or one not configured)."""
    if not (isinstance(provider, type) and issubclass(provider, Gemini)):
        return None
    from .listing import live_model_ids

    return live_model_ids(provider)
