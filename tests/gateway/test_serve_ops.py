"""``provider-core serve`` processes as deployed: SIGTERM drains open streams (ten, held by a
gate at the upstream, none lost) with one worker and with ``--workers 2``, and ``/metrics``
gives one figure per instance whichever of its workers answers the scrape."""

from __future__ import annotations

import glob
import os
import signal
from typing import Any

import httpx
import pytest
from support import wait_for

pytest.importorskip("provider_aivvm")

TEXT = "a reply that waits for the gate"
STREAMS = 10


@pytest.fixture
def upstream():
    from provider_aivvm.server import AivvmServer

    with AivvmServer(chunk_size=4) as server:
        yield server


def serve_env(upstream: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_CORE_", "PROMETHEUS_"))}
    env.update(AIVVM_BASE_URL=upstream.url, PROVIDER_CORE_PLUGINS="aivvm", PYTHONUNBUFFERED="1", **extra)
    return env


def first_data(lines: Any) -> str:
    """Read a stream up to its first data line (bounded by the client's read timeout)."""
    for line in lines:
        if line.startswith("data: {"):
            return line
    raise AssertionError("the stream ended before its first chunk")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_every_open_stream_finish_then_exits_0(helpers, upstream, tmp_path, workers):
    import threading

    gate = threading.Event()
    for _ in range(STREAMS):
        upstream.script(TEXT, hold=gate, hold_timeout=120)
    served = helpers.Served(["--include-not-working", "--workers", str(workers)], serve_env(upstream), str(tmp_path))
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    clients = [httpx.Client(timeout=60) for _ in range(STREAMS)]
    try:
        url = served.url()
        streams = [c.stream("POST", url + "/v1/chat/completions", json=body) for c in clients]
        responses = [s.__enter__() for s in streams]
        readers = [r.iter_lines() for r in responses]
        firsts = [first_data(reader) for reader in readers]  # every stream is open and under way
        assert all('"content":' in line for line in firsts)
        assert len(upstream.requests) == STREAMS
        served.proc.send_signal(signal.SIGTERM)
        served.wait_log("Shutting down", count=workers)  # every worker stopped accepting
        served.wait_log("Waiting for connections to close")
        gate.set()  # now the upstream may finish the replies
        for response, reader in zip(responses, readers, strict=True):
            rest = [line for line in reader if line]
            assert rest[-1] == "data: [DONE]", rest[-3:]
            assert not any('"error"' in line for line in rest)
            assert response.status_code == 200
        for stream in streams:
            stream.__exit__(None, None, None)
        code = served.proc.wait(60)
    finally:
        gate.set()
        for client in clients:
            client.close()
        final = served.stop()
    assert code == 0 == final, "".join(served.log)
    assert "Traceback" not in "".join(served.log)


def test_metrics_are_one_figure_per_instance_with_two_workers(helpers, upstream, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    directory = tmp_path / "metrics"
    env = serve_env(upstream, PROMETHEUS_MULTIPROC_DIR=str(directory))
    served = helpers.Served(["--include-not-working", "--workers", "2", "--metrics"], env, str(tmp_path))
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "count me"}]}

    def counted(text: str) -> float:
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "provider_core_requests_total" and s.labels["endpoint"] == "/v1/chat/completions"
        )

    try:
        url = served.url()
        sent = 0
        # new connections until both workers have answered some (their counters are files of their own)
        while len(glob.glob(str(directory / "counter_*.db"))) < 2:
            assert sent < 400, "the requests never reached the second worker"
            with httpx.Client(timeout=30) as http:
                assert http.post(url + "/v1/chat/completions", json=body).status_code == 200
            sent += 1

        def scrape() -> str:  # a new connection each time: any worker may answer
            with httpx.Client(timeout=30) as http:
                return http.get(url + "/metrics").text

        assert wait_for(lambda: counted(scrape()) == sent)  # the last request is counted once it is over
        for _ in range(12):  # whichever worker answers, the same sum
            text = scrape()
            assert counted(text) == sent, text
    finally:
        code = served.stop()
    assert code == 0, "".join(served.log)
    assert "metrics on" in "".join(served.log)
