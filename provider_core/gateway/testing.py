"""The gateway on loopback, in this process, for tests: a real uvicorn server in a thread.

Needs the ``server`` extra (starlette, uvicorn), imported only when a server starts::

    from provider_core.gateway.testing import running_gateway

    with running_gateway(registry) as gateway:        # a Registry with your provider in it
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused")
        ...

:class:`ThreadedServer` serves any ASGI app the same way (``ThreadedServer(app).start()``).
The start waits, bounded, until uvicorn listens; the port is a free one the kernel chose.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["ThreadedServer", "running_gateway"]

#: The longest wait for the server to start or stop (seconds); a bound, never a speed.
START_TIMEOUT = 20.0


class ThreadedServer:
    """A real uvicorn server for ``app`` on 127.0.0.1 and a free port, in a daemon thread.
    ``graceful`` is uvicorn's graceful-shutdown timeout; ``lifespan`` its lifespan mode."""

    def __init__(self, app: Any, graceful: float | None = 5.0, access_log: bool = False, lifespan: str = "off") -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            log_level="warning",
            access_log=access_log,
            lifespan=lifespan,
            timeout_graceful_shutdown=graceful,
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="provider-core-test-server", daemon=True)
        self.port = 0

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the gateway's API is under ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError("the test server did not stop")

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_gateway(registry: Any = None, config: Any = None, **options: Any) -> Iterator[ThreadedServer]:
    """``provider-core serve``'s app over ``registry`` (default: the process-wide one) with
    ``config`` (a :class:`~provider_core.gateway.config.GatewayConfig`; default: the
    defaults, no keys), served on loopback for the ``with`` block. ``options`` go to
    :class:`ThreadedServer`."""
    from ..gateway.app import create_app
    from ..gateway.config import GatewayConfig

    app = create_app(registry, config if config is not None else GatewayConfig())
    with ThreadedServer(app, **options) as server:
        yield server
