"""A load generator for OpenAI-compatible streaming endpoints, run in a process of its own.

``python -m bench.loadgen URL --model M --prompt P --streams N --requests T [--rate R]``
opens ``N`` kept-alive connections to ``URL`` (``http://host:port``) and streams ``T`` chat
completions (``POST /v1/chat/completions``, ``stream: true``) through them, each
connection starting its next request as soon as one ends (or, with ``--rate``, at a fixed
rate in all); then prints one JSON object: requests per second, the time to first token
(median and 90th percentile), the time to the whole reply (median), and the failures by
kind (a status other than 200, a reply whose text is not the prompt, a broken connection).

It is lean on purpose (asyncio streams, HTTP/1.1 framing read by hand, one event loop), so
that the same small client cost falls on whatever server it measures: the gateway, the
LiteLLM proxy, or several gateway instances (``URL`` repeated: connections are spread over
them in turn). Every request is bounded by ``--timeout`` seconds; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Stream", "main", "run"]


class Stream:
    """One kept-alive HTTP/1.1 connection streaming chat completions."""

    def __init__(self, host: str, port: int, body: bytes, key: str | None) -> None:
        self.host, self.port = host, port
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
        )
        if key:
            head += f"authorization: Bearer {key}\r\n"
        self.request = head.encode() + b"\r\n" + body
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def one(self) -> tuple[int, float, float, str]:
        """(status, seconds to the first text, seconds to the end, the text)."""
        reader, writer = await self._connect()
        start = time.perf_counter()
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        first = 0.0
        parts: list[str] = []
        buffer = b""

        def take(data: bytes) -> None:
            nonlocal buffer, first
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                if not event.startswith(b"data: {"):
                    continue
                choices = json.loads(event[6:]).get("choices") or [{}]
                content = (choices[0].get("delta") or {}).get("content")
                if content:
                    if not first:
                        first = time.perf_counter() - start
                    parts.append(content)

        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                take(data[:-2])
        elif "content-length" in headers:
            take(await reader.readexactly(int(headers["content-length"])))
        else:  # delimited by the close
            take(await reader.read())
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, first, time.perf_counter() - start, "".join(parts)


async def run(
    urls: Sequence[str],
    *,
    model: str,
    prompt: str,
    streams: int,
    requests: int,
    rate: float = 0.0,
    timeout: float = 60.0,
    key: str | None = None,
    expect: str | None = None,
) -> dict[str, Any]:
    """Stream ``requests`` completions over ``streams`` connections; the figures (see the module)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}).encode()
    targets = [urlsplit(u) for u in urls]
    conns = [Stream(t.hostname or "127.0.0.1", t.port or 80, body, key) for t in (targets * streams)[:streams]]
    want = prompt if expect is None else expect
    firsts: list[float] = []
    wholes: list[float] = []
    failures: Counter[str] = Counter()
    shares = [requests // streams + (1 if i < requests % streams else 0) for i in range(streams)]
    start = time.perf_counter()

    async def worker(i: int) -> None:
        conn = conns[i]
        for k in range(shares[i]):
            if rate:
                await asyncio.sleep(max(0.0, start + (k * streams + i) / rate - time.perf_counter()))
            try:
                status, first, whole, text = await asyncio.wait_for(conn.one(), timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                failures[f"connection: {type(exc).__name__}"] += 1
                conn.close()
                continue
            except asyncio.TimeoutError:
                failures["timeout"] += 1
                conn.close()
                continue
            if status != 200:
                failures[f"status {status}"] += 1
            elif text != want:
                failures["wrong text"] += 1
            else:
                firsts.append(first)
                wholes.append(whole)
        conn.close()

    await asyncio.gather(*(worker(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    ok = len(firsts)
    firsts.sort()
    return {
        "requests": requests,
        "ok": ok,
        "failures": dict(failures),
        "seconds": elapsed,
        "rps": ok / elapsed if elapsed else 0.0,
        "ttft_p50": statistics.median(firsts) if firsts else None,
        "ttft_p90": firsts[int(0.9 * (ok - 1))] if firsts else None,
        "whole_p50": statistics.median(wholes) if wholes else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="+", metavar="URL", help="http://host:port (repeat to spread the connections)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", required=True, help="the user message (the upstream echoes it)")
    parser.add_argument("--expect", help="the reply text expected (default: the prompt)")
    parser.add_argument("--streams", type=int, default=16, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=400, help="requests in all")
    parser.add_argument("--rate", type=float, default=0.0, help="start requests at this rate in all (0: at once)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take")
    parser.add_argument("--key", help="an API key to send as a bearer token")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(
            args.urls,
            model=args.model,
            prompt=args.prompt,
            streams=args.streams,
            requests=args.requests,
            rate=args.rate,
            timeout=args.timeout,
            key=args.key,
            expect=args.expect,
        )
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
