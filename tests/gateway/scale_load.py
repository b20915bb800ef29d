"""A load generator for the multi-instance tests, run as a process of its own with the test
interpreter: ``python scale_load.py --url U1 --url U2 [--key K] [--model M] [--threads N]
[--count N] [--max-seconds S]``.

``N`` threads stream chat completions (``stream: true``, a new connection each, so that
every worker process of an instance gets some), the instances taken in turn. Each finished
request is one JSON line on stdout: ``{"url", "status", "ok", "code"}``; ``ok`` is a 200
whose stream ended with ``data: [DONE]`` and carried no error event; ``code`` is the error
code of a refused request (its body's ``error.code``), or what broke (``"connection"``,
``"incomplete"``). It stops after ``--count`` requests, when a line ``stop`` (or the end)
comes on stdin, or after ``--max-seconds``, whichever is first: it always stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import threading
import time
from urllib.parse import urlsplit

PROMPT = "load"


def one(url: str, model: str, key: str | None) -> dict[str, object]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True})
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        return {"url": url, "status": 0, "ok": False, "code": "connection"}
    finally:
        conn.close()
    if response.status != 200:
        try:
            code = json.loads(data)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "unknown"
        return {"url": url, "status": response.status, "ok": False, "code": code}
    lines = [line for line in data.decode("utf-8", "replace").split("\n") if line.startswith("data: ")]
    ok = bool(lines) and lines[-1] == "data: [DONE]" and not any('"error"' in line for line in lines)
    return {"url": url, "status": 200, "ok": ok, "code": None if ok else "incomplete"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--key")
    parser.add_argument("--model", default="gpt-4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", type=int, default=0, help="requests in all (0: until stopped)")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    stop = threading.Event()
    lock = threading.Lock()
    urls = itertools.cycle(args.url)
    started = itertools.count()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    def worker() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                n = next(started)
                url = next(urls)
            if args.count and n >= args.count:
                return
            result = one(url, args.model, args.key)
            with lock:
                print(json.dumps(result), flush=True)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
