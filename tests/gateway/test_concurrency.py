"""Concurrency: many streams at once, a client that leaves, a blocked provider, shutdown."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_200_concurrent_streaming_clients_lose_nothing(gateway, helpers):
    """200 official async clients stream at once from one server; each reply is distinct,
    so a lost, duplicated, reordered or crossed chunk shows."""
    from openai import AsyncOpenAI

    n_clients, n_chunks = 200, 12

    async def one(client: AsyncOpenAI, i: int) -> list[str]:
        stream = await client.chat.completions.create(model="count-1", messages=user(f"c{i} {n_chunks}"), stream=True)
        return [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]

    async def main() -> list:
        async with AsyncOpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=60) as client:
            return await asyncio.gather(*(one(client, i) for i in range(n_clients)), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of {n_clients} streams failed, first: {errors[0]!r}"
    for i, chunks in enumerate(results):
        assert chunks == helpers.counted(f"c{i}", n_chunks), f"client {i}"
    assert wait_for(lambda: gateway.workers.busy == 0)


def test_disconnecting_client_stops_the_upstream_and_frees_its_thread(gateway, helpers):
    Endless = helpers.Endless
    body = {"model": "endless-1", "messages": user("disconnect-1"), "stream": True}
    with httpx.Client(timeout=30) as http, http.stream("POST", gateway.url + "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]  # three events and their blank separators
        assert got[0].startswith("data: ")
        assert not Endless.closed["disconnect-1"].is_set()
    # leaving the block closed the connection mid-stream
    assert Endless.closed["disconnect-1"].wait(15), "the upstream generator was not closed"
    assert wait_for(lambda: Endless.running == 0)
    assert wait_for(lambda: gateway.workers.busy == 0)


def test_a_blocked_provider_does_not_block_the_event_loop(gateway, helpers):
    Gate = helpers.Gate
    Gate.entered.clear()
    Gate.release.clear()
    result: dict = {}

    def call() -> None:
        body = {"model": "gate-1", "messages": user("x"), "stream": True}
        with httpx.Client(timeout=30) as http:
            result["response"] = http.post(gateway.url + "/v1/chat/completions", json=body)

    thread = threading.Thread(target=call)
    thread.start()
    try:
        assert Gate.entered.wait(15)
        # the provider is now blocked in a worker thread; the server still answers
        with httpx.Client(timeout=10) as http:
            assert http.get(gateway.url + "/healthz").json() == {"status": "ok"}
            assert http.get(gateway.url + "/v1/models").status_code == 200
        assert "response" not in result
    finally:
        Gate.release.set()
        thread.join(30)
    assert "released" in result["response"].text


def _stream_lines(url: str, body: dict, out: list, first: threading.Event) -> None:
    try:
        with httpx.Client(timeout=30) as http, http.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line:
                    out.append(line)
                    first.set()
    except httpx.HTTPError as exc:
        out.append(exc)
    finally:
        first.set()


def test_graceful_shutdown_lets_an_inflight_stream_finish(helpers):
    with helpers.running(graceful=20) as server:
        lines: list = []
        first = threading.Event()
        body = {"model": "slow-1", "messages": user("20"), "stream": True}
        thread = threading.Thread(target=_stream_lines, args=(server.url + "/v1/chat/completions", body, lines, first))
        thread.start()
        assert first.wait(15)
        server.stop()  # asks uvicorn to exit while the stream is still running
        thread.join(30)
    assert lines[-1] == "data: [DONE]", lines[-3:]
    texts = [json.loads(line[6:])["choices"][0]["delta"].get("content") for line in lines[:-1]]
    assert [t for t in texts if t] == [f"s{i} " for i in range(20)]


def test_graceful_shutdown_is_bounded_and_closes_the_upstream(helpers):
    Endless = helpers.Endless
    with helpers.running(graceful=0.5) as server:
        lines: list = []
        first = threading.Event()
        body = {"model": "endless-1", "messages": user("shutdown-1"), "stream": True}
        thread = threading.Thread(target=_stream_lines, args=(server.url + "/v1/chat/completions", body, lines, first))
        thread.start()
        assert first.wait(15)
        server.stop(timeout=20)  # the endless stream is cut after the grace period
        thread.join(30)
    assert Endless.closed["shutdown-1"].wait(15)
    assert "data: [DONE]" not in lines


def test_streams_beyond_the_thread_budget_wait_while_listings_do_not(helpers):
    from provider_core.gateway.config import GatewayConfig

    Gate = helpers.Gate
    Gate.entered.clear()
    Gate.release.clear()
    results: list = []

    def call(model: str, prompt: str) -> None:
        body = {"model": model, "messages": user(prompt), "stream": True}
        with httpx.Client(timeout=30) as http:
            results.append(http.post(server.url + "/v1/chat/completions", json=body).text)

    with helpers.running(config=GatewayConfig(threads=1)) as server:
        gated = threading.Thread(target=call, args=("gate-1", "x"))
        gated.start()
        try:
            assert Gate.entered.wait(15)  # the only thread is taken, blocked in the provider
            queued = threading.Thread(target=call, args=("count-1", "q 3"))
            queued.start()
            assert wait_for(lambda: server.workers.waiting == 1)  # it waits its turn
            with httpx.Client(timeout=10) as http:  # listings use their own threads
                assert http.get(server.url + "/v1/models").status_code == 200
                assert http.get(server.url + "/v1/providers").status_code == 200
            assert results == []  # the second stream waits for the thread
            assert server.workers.busy == 1
        finally:
            Gate.release.set()
            gated.join(30)
        queued.join(30)
    assert len(results) == 2
    assert any("q.2 " in text and text.rstrip().endswith("data: [DONE]") for text in results)
