"""Fixtures shared by the Aivvm plugin's tests. The ``aivvm_server`` fixture itself comes
from the plugin's ``pytest11`` entry point (``provider_aivvm.pytest_plugin``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from provider_aivvm import Aivvm
from provider_aivvm.server import AivvmServer


def _ask(url: str, messages: Any = None, model: str = "gpt-4", stream: bool = True, **kwargs: Any) -> list[str]:
    kwargs.setdefault("timeout", (5, 10))
    if messages is None:
        messages = [{"role": "user", "content": "Hello"}]
    return list(Aivvm.create_completion(model, messages, stream, base_url=url, **kwargs))


@pytest.fixture(scope="session")
def ask() -> Callable[..., list[str]]:
    """``ask(url, messages=None, model="gpt-4", stream=True, **kwargs)``: call Aivvm at ``url``
    (default message: a user saying "Hello") and return the list of chunks it yielded."""
    return _ask


@pytest.fixture(scope="session")
def console_script() -> Callable[[str], str]:
    """``console_script(name)``: the path of a console script installed next to this Python."""

    def find(name: str) -> str:
        path = Path(sys.executable).with_name(name)
        if not path.exists():
            pytest.fail(f"{name} is not installed next to {sys.executable}")
        return str(path)

    return find


@pytest.fixture(scope="module")
def shared_server() -> Iterator[AivvmServer]:
    """One Aivvm server for a whole module (Hypothesis examples cannot use function fixtures)."""
    with AivvmServer() as server:
        yield server
