"""The gateway serves replies through the async API: a provider with a native
``acreate_completion`` runs on the server's event loop, and a client leaving stops it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

import httpx
import pytest

from provider_core.provider import AbstractProvider


class Native(AbstractProvider):
    """Streams ``"<tag> <n>"`` as ``n`` chunks from a native async generator (then, for
    ``n == 0``, until closed); its sync method must not be used."""

    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    models: ClassVar = {"native-1": "Native"}
    threads: ClassVar[set[str]] = set()
    closed: ClassVar[dict[str, threading.Event]] = {}
    sync_calls = 0

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        cls.sync_calls += 1
        yield "from the sync path"

    @classmethod
    def acreate_completion(cls, model, messages, stream, **kwargs):
        tag, n = messages[-1]["content"].split(" ")
        closed = cls.closed.setdefault(tag, threading.Event())

        async def gen():
            cls.threads.add(threading.current_thread().name)
            try:
                for i in range(int(n) or 3000):
                    yield f"{tag}.{i} "
                    await asyncio.sleep(0.01 if n == "0" else 0)
            finally:
                closed.set()

        return gen()


@pytest.fixture(scope="module")
def server(helpers):
    with helpers.running(registry=helpers.make_registry(Native)) as server:
        yield server


def test_a_native_async_provider_runs_on_the_servers_event_loop(server, helpers):
    body = {"model": "native-1", "messages": [{"role": "user", "content": "n 5"}], "stream": True}
    with httpx.Client(timeout=30) as http:
        streamed = http.post(server.url + "/v1/chat/completions", json=body)
        whole = http.post(server.url + "/v1/chat/completions", json={**body, "stream": False})
    assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
    assert "".join(f"n.{i} " for i in range(5)) == whole.json()["choices"][0]["message"]["content"]
    for i in range(5):
        assert f'"content":"n.{i} "' in streamed.text
    assert Native.sync_calls == 0
    assert Native.threads == {server.thread.name}, "the provider's coroutine ran on the server's loop"


def test_a_client_leaving_closes_a_native_stream(server, helpers):
    body = {"model": "native-1", "messages": [{"role": "user", "content": "gone 0"}], "stream": True}
    with httpx.Client(timeout=30) as http, http.stream("POST", server.url + "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert not Native.closed["gone"].is_set()
    assert Native.closed["gone"].wait(15), "the native generator was not closed"
    deadline = time.monotonic() + 15
    while server.workers.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.workers.busy == 0, "the thread running the fallback loop was not given back"
