"""What tracktion's HTTP protocol (`tracktion/http/server.py`: §12's head limits, timers and connection bound)
adds to a request, against uvicorn's `HttpToolsProtocol` it extends.

The end-to-end A/B (`python -m bench --workloads custom`, alternating two checkouts) is the real test, but on
a shared two-core machine its noise is tens of percent, far above a few microseconds. This measures the
protocols alone: the same keep-alive connection (a fake transport), the same request a `custom` event
sends (headers with a bearer token, a 380-byte body), a minimal ASGI app answering 202, and the CPU time per
request over many requests, the two protocols alternated:

    python -m bench.protocol_ab [--requests 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tracktion.http.server import HttpProtocol

BODY = (
    b'{"action":"bench.event","label":"bench","client":{"customId":"k-1"},"params":{"n":1,"s":"'
    + b"x" * 300
    + b'"}}'
)
REQUEST = (
    b"POST /v4/events/custom HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"Authorization: Bearer " + b"e" * 900 + b"\r\n"
    b"Content-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


class Transport(asyncio.Transport):
    """Enough of a socket transport for a protocol: it counts complete responses."""

    def __init__(self) -> None:
        super().__init__()
        self.responses = 0
        self.done: asyncio.Event | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith(b"\r\n\r\n"):  # a 202's head (its body is empty): one response
            self.responses += 1
            if self.done is not None:
                self.done.set()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


def cost(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    """CPU microseconds per request on one kept-alive connection."""
    loop = uvloop.new_event_loop()
    try:
        config = Config(app=app, http=protocol_class, lifespan="off", log_level="warning", access_log=False)
        config.load()

        async def run() -> float:
            protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
            transport = Transport()
            protocol.connection_made(transport)
            transport.done = asyncio.Event()
            started = time.process_time()
            for _ in range(requests):
                transport.done.clear()
                protocol.data_received(REQUEST)
                await transport.done.wait()
            spent = time.process_time() - started
            protocol.connection_lost(None)
            assert transport.responses == requests
            return spent / requests * 1e6

        return loop.run_until_complete(run())
    finally:
        loop.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cost(HttpProtocol, 2_000)  # warm both paths (imports, caches)
    cost(HttpToolsProtocol, 2_000)
    a: list[float] = []
    b: list[float] = []
    for i in range(args.rounds):  # alternated, and in turn first: neither side always runs warmer
        if i % 2:
            b.append(cost(HttpProtocol, args.requests))
            a.append(cost(HttpToolsProtocol, args.requests))
        else:
            a.append(cost(HttpToolsProtocol, args.requests))
            b.append(cost(HttpProtocol, args.requests))
    show = lambda xs: " / ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"uvicorn HttpToolsProtocol : {show(a)} µs/request (median {statistics.median(a):.2f})")
    print(f"tracktion HttpProtocol    : {show(b)} µs/request (median {statistics.median(b):.2f})")
    print(f"added: {statistics.median(b) - statistics.median(a):+.2f} µs/request")


if __name__ == "__main__":
    main()
