"""A deployment on loopback: one redis-server, one upstream, two ``provider-core serve
--workers 2`` instances sharing the circuits and the rate limits through Redis, and a load
generator in a process of its own (``scale_load.py``) where a test needs load.

Conditions, never timings: the requests per minute of one key are one budget for the four
worker processes (the 200s counted across both instances stay within the limit's burst and
what it refilled meanwhile); a circuit opened through one instance is refused by the other
(a bounded wait for it, the sync interval set small); Redis killed and started again under
load fails no request to a healthy upstream; SIGTERM to one instance during ten streams
loses none of them while the other instance keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import support
from support import Served, wait_for

pytest.importorskip("provider_aivvm")
pytest.importorskip("redis")

LOAD_SCRIPT = Path(__file__).with_name("scale_load.py")
#: The key with a limit of its own, and the key every other test uses (a limit too high to
#: reach, so that each request still goes through the Redis check).
LIMITED, FREE = "sk-scale-limited-0123456789", "sk-scale-free-0123456789"
RPM = 30
SYNC = 0.1  # seconds between the workers' refreshes of the shared circuits
BOUND = 60  # seconds: the most any one condition is waited for (a bound, never an expectation)


class Load:
    """A running ``scale_load.py``: its results, one dict per finished request, are read in a
    thread; ``wait(count)`` waits (bounded) until that many have come, ``stop()`` ends it and
    returns them all
    (``finish()`` first waits for a load of ``count`` requests to end)."""

    def __init__(self, urls: list[str], *, key: str, count: int = 0, threads: int = 2, model: str = "gpt-4") -> None:
        argv = [sys.executable, str(LOAD_SCRIPT), "--key", key, "--threads", str(threads), "--model", model]
        argv += ["--count", str(count), "--max-seconds", "240"]
        for url in urls:
            argv += ["--url", url]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=support.clean_env()
        )
        self.results: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.results.append(json.loads(line))
        self._lines.put(None)

    def wait(self, count: int) -> None:
        assert wait_for(lambda: len(self.results) >= count or self.proc.poll() is not None, BOUND), len(self.results)
        assert len(self.results) >= count, f"the load generator exited after {len(self.results)} requests"

    def finish(self) -> list[dict[str, Any]]:
        """Wait (bounded) for a load of ``count`` requests to end; all the results."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(BOUND)
        return self.stop()

    def stop(self) -> list[dict[str, Any]]:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
        try:
            self.proc.wait(BOUND)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        self._lines.get(timeout=BOUND)  # the reader has seen the end of the output
        return self.results


class Deployment:
    """Redis, the upstream, and ``serve --workers 2`` instances configured alike."""

    def __init__(self, redis: support.RedisServer, upstream: Any, workdir: Path) -> None:
        self.redis = redis
        self.upstream = upstream
        self.workdir = workdir
        keys = workdir / "keys.json"
        entries = [{"key": LIMITED, "id": "limited", "rpm": RPM}, {"key": FREE, "id": "free", "rpm": 10_000_000}]
        keys.write_text(json.dumps({"keys": entries}), encoding="utf-8")
        self.env = support.clean_env(
            AIVVM_BASE_URL=upstream.url,
            PROVIDER_CORE_PLUGINS="aivvm",
            PROVIDER_CORE_REDIS_URL=redis.url,
            PROVIDER_CORE_REDIS_PREFIX=f"pcscale-{uuid.uuid4().hex[:10]}",
            PROVIDER_CORE_BREAKER_SYNC=str(SYNC),
            PROVIDER_CORE_API_KEYS_FILE=str(keys),
            PYTHONUNBUFFERED="1",
        )
        self.instances: list[Served] = []

    def instance(self) -> tuple[Served, str]:
        args = ["--include-not-working", "--workers", "2", "--no-access-log", "--graceful-timeout", "60"]
        served = Served(args, self.env, self.workdir)
        self.instances.append(served)
        return served, served.url(timeout=BOUND)

    def close(self) -> None:
        for served in self.instances:
            served.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from provider_aivvm.server import AivvmServer

    redis = support.RedisServer(support.redis_exe()).start()
    try:
        with AivvmServer(chunk_size=4) as upstream:
            made = Deployment(redis, upstream, tmp_path_factory.mktemp("scale"))
            try:
                yield made
            finally:
                made.close()
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def pair(deployment: Deployment) -> tuple[str, str]:
    """The base URLs of two instances of two workers each."""
    return deployment.instance()[1], deployment.instance()[1]


def chat(url: str, model: str = "gpt-4", key: str = FREE) -> httpx.Response:
    """One non-streamed request on a connection of its own (any worker may answer it)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(timeout=BOUND) as client:
        return client.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def test_one_keys_requests_per_minute_are_one_budget_for_every_worker_of_both_instances(pair):
    total = 2 * RPM
    start = time.monotonic()
    results = Load(list(pair), key=LIMITED, count=total, threads=4).finish()
    elapsed = time.monotonic() - start
    assert len(results) == total
    admitted = [r for r in results if r["ok"]]
    refused = [r for r in results if r["status"] == 429]
    assert len(admitted) + len(refused) == total, [r for r in results if not r["ok"] and r["status"] != 429]
    assert {r["code"] for r in refused} == {"rate_limit_exceeded"}
    # The bucket starts full (the burst: RPM requests) and refills RPM/60 a second. Four
    # processes each with a bucket of its own would admit up to 4 x RPM.
    assert RPM <= len(admitted) <= RPM + int(elapsed * RPM / 60) + 1, (len(admitted), elapsed)
    assert {r["url"] for r in admitted} == set(pair)


def refused_by_circuit(response: httpx.Response, model: str) -> bool:
    return response.status_code == 503 and f"circuit for {model} open" in response.json()["error"]["message"]


def test_a_circuit_opened_through_one_instance_is_refused_by_the_other(deployment, pair):
    first, other = pair
    model = "gpt-3.5-turbo"  # a circuit of its own: gpt-4 stays closed for the other tests
    upstream = deployment.upstream
    upstream.clear()
    for _ in range(200):  # every request that reaches the upstream for now fails
        upstream.script(status=503)
    try:
        for _ in range(3):  # three faults in a row open the circuit, whichever worker saw them
            response = chat(first, model)
            assert response.status_code >= 500 and not refused_by_circuit(response, model), response.text
        assert len(upstream.requests) == 3
        # the other instance's workers learn it at their next refresh: a bounded wait until
        # several requests in a row (new connections, so both workers) are refused
        assert wait_for(lambda: all(refused_by_circuit(chat(other, model), model) for _ in range(6)), BOUND)
        reached = len(upstream.requests)
        for url in (other, first) * 5:
            assert refused_by_circuit(chat(url, model), model)
        assert len(upstream.requests) == reached, "a worker called the upstream while the circuit was open"
    finally:
        upstream.clear()
    assert chat(other).status_code == 200  # the other model's circuit is closed


def unreachable_and_back(log: str) -> tuple[int, int]:
    """How often the rate limits of the instance's workers left Redis, and came back to it."""
    down = len(re.findall(r"rate limits: Redis at \S+ is unreachable", log))
    return down, len(re.findall(r"rate limits: Redis at \S+ is reachable again", log))


def test_redis_killed_and_started_again_under_load_fails_no_request(deployment, pair):
    instances = deployment.instances[:2]
    load = Load(list(pair), key=FREE, threads=4)
    try:
        load.wait(20)
        deployment.redis.kill()
        load.wait(len(load.results) + 40)
        for served in instances:  # each instance noticed it (at least one of its workers)
            served.wait_log("is unreachable", timeout=BOUND)
        load.wait(len(load.results) + 20)
        deployment.redis.start()  # the same port, no data: the buckets start afresh
        for served in instances:

            def back(served: Served = served) -> bool:
                down, up = unreachable_and_back("".join(served.log))
                return up >= down > 0

            assert wait_for(back, BOUND), "".join(served.log)
        load.wait(len(load.results) + 40)
    finally:
        results = load.stop()
    failed = [r for r in results if not r["ok"]]
    assert not failed, failed[:5]
    assert {r["url"] for r in results} == set(pair)


def first_data(lines: Iterator[str]) -> str:
    """Read a stream up to its first data line (bounded by the client's read timeout)."""
    for line in lines:
        if line.startswith("data: {"):
            return line
    raise AssertionError("the stream ended before its first chunk")


def test_sigterm_to_one_instance_during_ten_streams_loses_none(deployment):
    upstream = deployment.upstream
    upstream.clear()
    gate = threading.Event()
    text = "a reply held at the upstream until the gate opens"
    for _ in range(10):
        upstream.script(text, hold=gate, hold_timeout=120)
    leaving, leaving_url = deployment.instance()  # instances of this test's own: one is stopped
    _, staying_url = deployment.instance()
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"authorization": f"Bearer {FREE}"}
    clients = [httpx.Client(timeout=BOUND) for _ in range(10)]
    streams = [
        c.stream("POST", (leaving_url, staying_url)[i % 2] + "/v1/chat/completions", json=body, headers=headers)
        for i, c in enumerate(clients)
    ]
    try:
        responses = [s.__enter__() for s in streams]
        readers = [r.iter_lines() for r in responses]
        assert all('"content":' in first_data(reader) for reader in readers)  # all ten under way
        assert len(upstream.requests) == 10
        leaving.proc.send_signal(signal.SIGTERM)
        leaving.wait_log("Shutting down", count=2, timeout=BOUND)  # both of its workers stopped accepting
        assert chat(staying_url).status_code == 200  # the other instance serves new requests meanwhile
        gate.set()
        for response, reader in zip(responses, readers, strict=True):
            rest = [line for line in reader if line]
            assert response.status_code == 200
            assert rest[-1] == "data: [DONE]", rest[-3:]
            assert not any('"error"' in line for line in rest)
        for stream in streams:
            stream.__exit__(None, None, None)
        assert leaving.proc.wait(BOUND) == 0, "".join(leaving.log)
        assert chat(staying_url).status_code == 200
    finally:
        gate.set()
        for client in clients:
            client.close()
        upstream.clear()
    assert "Traceback" not in "".join(leaving.log)
