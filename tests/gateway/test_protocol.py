"""The gateway protocol's coalescing transport: the writes of one turn of the event loop go
out as one, in order, and nothing written before ``close()`` is lost. A real transport on a
socket pair, a real event loop; the recording wrapper only counts the writes it passes on."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from provider_core.gateway.protocol import CoalescingTransport


class Recording:
    """A transport's proxy counting the writes that reach it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[Recording, asyncio.StreamReader, asyncio.StreamWriter]:
    """Our transport (recorded) and the reading end; the writer is kept (dropped, it closes its socket)."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    reader, writer = await asyncio.open_connection(sock=theirs)
    return Recording(transport), reader, writer


def test_writes_in_one_turn_are_one_write_in_order() -> None:
    async def main() -> None:
        recording, reader, writer = await _pair()
        coalescing = CoalescingTransport(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
        coalescing.write(b"status ")
        coalescing.write(b"")  # nothing to send: no write of its own
        coalescing.write(b"first ")
        coalescing.write(b"event\n")
        assert recording.writes == []  # not yet: at the end of this turn
        assert await asyncio.wait_for(reader.readline(), 10) == b"status first event\n"
        assert recording.writes == [b"status first event\n"]
        coalescing.write(b"next turn\n")
        assert await asyncio.wait_for(reader.readline(), 10) == b"next turn\n"
        assert len(recording.writes) == 2
        coalescing.close()
        writer.close()

    asyncio.run(main())


def test_close_sends_what_was_written_first() -> None:
    async def main() -> None:
        recording, reader, writer = await _pair()
        coalescing = CoalescingTransport(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
        coalescing.write(b"last events ")
        coalescing.write(b"[DONE]")
        coalescing.close()
        assert coalescing.is_closing()  # the transport's own attribute
        assert await asyncio.wait_for(reader.read(), 10) == b"last events [DONE]"  # then the end of the stream
        assert recording.writes == [b"last events [DONE]"]
        writer.close()

    asyncio.run(main())


def test_nothing_is_written_once_the_transport_is_closing() -> None:
    async def main() -> None:
        recording, reader, writer = await _pair()
        coalescing = CoalescingTransport(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
        coalescing.write(b"too late")
        recording.transport.close()  # the connection went away meanwhile
        assert await asyncio.wait_for(reader.read(), 10) == b""
        coalescing.flush()
        assert recording.writes == []
        writer.close()

    asyncio.run(main())
