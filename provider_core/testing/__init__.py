"""Test support for provider authors, registered as a pytest plugin (entry point ``pytest11``).

This module is imported by every pytest run in an environment where provider-core is
installed, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def isolated_registry():
    """A :class:`provider_core.Registry` that loads no entry points."""
    from provider_core.registry import Registry

    return Registry(load_entry_points=False)
