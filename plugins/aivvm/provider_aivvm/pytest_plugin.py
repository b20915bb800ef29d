"""pytest plugin of provider-core-aivvm (entry point ``pytest11``): the ``aivvm_server`` fixture.

Registered through an entry point rather than a ``conftest.py`` so that anyone who installs
the plugin gets the fixture in their own test suites too (e.g. to test an application that
calls Aivvm). This module imports only pytest at start-up; the server is imported when the
fixture is first used. Disable it with ``-p no:provider_aivvm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import AivvmServer


@pytest.fixture
def aivvm_server() -> Iterator[AivvmServer]:
    """A running :class:`provider_aivvm.server.AivvmServer` on 127.0.0.1 and a free port
    (echo replies in 7-byte chunks); stopped after the test. Pass ``base_url=aivvm_server.url``
    to the provider, or set ``AIVVM_BASE_URL`` with ``monkeypatch.setenv``."""
    from .server import AivvmServer

    with AivvmServer() as server:
        yield server
