"""Slow and hostile clients (docs/api.md §1.3, §12): nothing a client sends stalls the server, inflates its
memory or gets a 500.

* slow bodies (slowloris): many connections dripping a body one byte at a time do not delay anyone else;
* a gzip bomb is refused with 413 while inflating at most the 1 MiB limit;
* bodies at and past every §1.3 limit (nesting, integers, UTF-8, BOM, NaN, 100,000 keys, 100,000 items)
  get the Synerise error body with the contract's status and code, or 202 where the body is valid;
* the server's resident memory stays bounded throughout (peak RSS read from /proc).
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from tests.reliability.wire import Conn, Reply, json_headers
from tests.support.reliability import ServeProcess

pytestmark = pytest.mark.e2e

SLOW_CONNECTIONS = 64
SLOW_SECONDS = 3.0
BOMB_BYTES = 256 * 1024 * 1024  # inflated size of the gzip bomb
ERROR_KEYS = {"error", "message", "path", "status", "timestamp", "errors"}
ENTRY_KEYS = {"code", "field", "message", "rejectedValue"}
MEMORY_BUDGET_MIB = 256  # peak RSS growth allowed over the idle server


def _event(**extra: Any) -> dict[str, Any]:
    return {"client": {"customId": "hostile"}, "action": "rel.hostile", "label": "x", **extra}


def _nested(depth: int) -> dict[str, Any]:
    """An event whose outermost object is level 1 and whose deepest object is level `depth`."""
    inner: dict[str, Any] = {}
    for _ in range(depth - 2):  # the event is level 1, params level 2
        inner = {"a": inner}
    return _event(params=inner)


def _keys(n: int) -> dict[str, int]:
    return {f"k{i:x}": i % 10 for i in range(n)}


@dataclass
class Case:
    name: str
    body: bytes
    status: int
    code: int | None  # expected errors[0].code; None for a 202
    path: str = "/v4/events/custom"
    headers: dict[str, str] | None = None


def _cases() -> list[Case]:
    enc = msgspec.json.encode
    event = enc(_event())
    big_digits = b"9" * 100_000
    return [
        Case("depth 64 (accepted)", enc(_nested(64)), 202, None),
        Case("depth 65", enc(_nested(65)), 400, 1000),
        Case("depth 500,000 (brackets only)", b"[" * 500_000 + b"]" * 500_000, 400, 1000),
        Case("depth 1,000,000 unclosed", b"[" * 1_000_000, 400, 1000),
        Case("int64 max (accepted)", enc(_event(params={"n": 2**63 - 1, "m": -(2**63)})), 202, None),
        Case("2**63", enc(_event(params={"n": 2**63})), 400, 1000),
        Case("-2**63-1 as client.id", enc(_event(client={"id": -(2**63) - 1})), 400, 1000),
        Case(
            "100,000-digit integer",
            b'{"client":{"id":' + big_digits + b'},"label":"x","action":"a"}',
            400,
            1000,
        ),
        Case(
            "100,000-digit integer + lone surrogate (slow decoder path)",
            b'{"label":"\\ud800","n":' + big_digits + b"}",
            400,
            1000,
        ),
        Case("1e400", event[:-1] + b',"params":{"f":1e400}}', 400, 1000),
        Case("NaN", event[:-1] + b',"params":{"f":NaN}}', 400, 1000),
        Case("Infinity", event[:-1] + b',"params":{"f":-Infinity}}', 400, 1000),
        Case("invalid UTF-8", event.replace(b'"x"', b'"\xff\xfe"'), 400, 1000),
        Case("UTF-8 encoded surrogate", event.replace(b'"x"', b'"\xed\xa0\x80"'), 400, 1000),
        Case("overlong UTF-8", event.replace(b'"x"', b'"\xc0\xaf"'), 400, 1000),
        Case("BOM", b"\xef\xbb\xbf" + event, 400, 1000),
        Case("UTF-16 BOM", b"\xff\xfe" + event.decode().encode("utf-16-le"), 400, 1000),
        Case("100,000-key params (accepted)", enc(_event(params=_keys(100_000))), 202, None),
        Case("100,000-key body", enc(_keys(100_000)), 400, 1002),
        Case("100,000-key client", enc(_event(client=_keys(100_000))), 400, 1003),
        Case("100,000 duplicate keys", b"{" + b'"k":1,' * 100_000 + b'"label":"x"}', 400, 1002),
        Case("100,000-item batch", enc([{}] * 100_000), 400, 1012, path="/v4/events/batch"),
        Case(
            "1,000 items of 90 keys",
            enc([_event(params=_keys(90)) for _ in range(1000)]),
            202,
            None,
            path="/v4/events/batch",
        ),
        Case(
            "transaction with 10,000 products",
            enc(
                {
                    "client": {"customId": "hostile"},
                    "orderId": "o",
                    "products": [{"sku": "s", "name": "n", "quantity": 0} for _ in range(10_000)],
                }
            ),
            400,
            1006,
            path="/v4/transactions",
        ),
        Case(  # was a 500: `source not in SOURCES` with an unhashable value (found by test_properties)
            "transaction source as a list",
            enc({"client": {"customId": "hostile"}, "orderId": "o", "source": ["POS"]}),
            400,
            1007,
            path="/v4/transactions",
        ),
        Case("body past 1 MiB", enc(_event(params={"s": "x" * 1_048_576})), 413, 1014),
        Case(
            "invalid gzip",
            b"\x1f\x8b\x08\x00garbage",
            400,
            1000,
            headers={"Content-Encoding": "gzip"},
        ),
        Case(
            "truncated gzip",
            gzip.compress(event)[:-12],
            400,
            1000,
            headers={"Content-Encoding": "gzip"},
        ),
        Case("empty body", b"", 400, 1000),
        Case("JSON scalar", b"123", 400, 1001),
        Case("whitespace only", b" " * 1_000_000, 400, 1000),
    ]


def _check_error_shape(case: Case, reply: Reply) -> None:
    body = reply.json()
    assert reply.headers.get("content-type") == "application/json", (case.name, reply.headers)
    assert set(body) == ERROR_KEYS, (case.name, body)
    assert body["status"] == reply.status and body["path"] == case.path, (case.name, body)
    assert body["errors"] and all(set(e) == ENTRY_KEYS for e in body["errors"]), (case.name, body)
    assert all(e["rejectedValue"] is None or len(e["rejectedValue"]) <= 256 for e in body["errors"])


def _gzip_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\x00" * (1 << 20)
    parts = [compressor.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    return b"".join(parts) + compressor.flush()


async def _slow_body(port: int, token: str, stop: asyncio.Event, complete: bool) -> int | None:
    """Announce a body and drip it one byte every 100 ms; returns the final status if `complete`."""
    body = msgspec.json.encode(_event(params={"slow": True}))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v4/events/custom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    try:
        writer.write(head.encode())
        await writer.drain()
        for i in range(len(body) - 1):
            if stop.is_set() and not complete:
                return None
            writer.write(body[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.1 if not stop.is_set() else 0)
        writer.write(body[-1:])
        await writer.drain()
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        return int(head_bytes.split(b" ", 2)[1])
    finally:
        writer.close()


async def _slow_headers(port: int, stop: asyncio.Event) -> None:
    """Headers that never end, one byte at a time."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /v4/events/custom HTTP/1.1\r\n")
        while not stop.is_set():
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.1)
    except OSError:
        pass  # the server may close a connection whose headers never end: fine
    finally:
        writer.close()


async def _slowloris(server: ServeProcess, token: str) -> tuple[list[float], list[int], list[int | None]]:
    stop = asyncio.Event()
    slow = [
        asyncio.create_task(_slow_body(server.port, token, stop, complete=i < 4))
        for i in range(SLOW_CONNECTIONS)
    ]
    slow_heads = [asyncio.create_task(_slow_headers(server.port, stop)) for _ in range(16)]
    await asyncio.sleep(0.3)  # every slow connection is open and mid-body
    conn = Conn("127.0.0.1", server.port, timeout=10)
    seconds: list[float] = []
    statuses: list[int] = []
    deadline = asyncio.get_running_loop().time() + SLOW_SECONDS
    n = 0
    while asyncio.get_running_loop().time() < deadline:
        n += 1
        body = msgspec.json.encode(_event(params={"fast": n}))
        for method, path, payload in (("POST", "/v4/events/custom", body), ("GET", "/-/health", None)):
            reply = await conn.request(method, path, payload, json_headers(token))
            assert reply is not None, "a normal request got no answer next to slow clients"
            seconds.append(reply.seconds)
            statuses.append(reply.status)
    stop.set()
    finished = await asyncio.gather(*slow)
    await asyncio.gather(*slow_heads)
    await conn.close()
    return seconds, statuses, [s for s in finished if s is not None]


def test_slow_clients_do_not_stall_others(
    serve_factory: Callable[..., ServeProcess], figures: Callable[..., None]
) -> None:
    server = serve_factory()
    server.start()
    token = server.token()
    seconds, statuses, completed = asyncio.run(_slowloris(server, token))
    assert set(statuses) == {200, 202}, statuses
    assert completed == [202] * 4, completed  # the slow ones that finished their body were served too
    figures(
        "slowloris",
        slow_body_connections=SLOW_CONNECTIONS,
        slow_header_connections=16,
        fast_requests=len(seconds),
        fast_max_ms=round(max(seconds) * 1000, 1),
        fast_p50_ms=round(sorted(seconds)[len(seconds) // 2] * 1000, 2),
    )
    assert max(seconds) < 1.0, max(seconds)
    server.stop()


async def _slow_chunked(port: int, path: str, stop: asyncio.Event) -> None:
    """A body of unknown length (chunked), one byte every 100 ms: counts as a large body."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n".encode()
        )
        while not stop.is_set():
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
    except OSError:
        pass
    finally:
        writer.close()


def test_slow_large_bodies_do_not_block_large_requests(
    serve_factory: Callable[..., ServeProcess], figures: Callable[..., None]
) -> None:
    """Large bodies are processed a few at a time (`TRACKTION_MAX_LARGE_REQUESTS`); a client that sends one
    slowly — here without credentials, to a login endpoint — must not keep the others waiting."""
    server = serve_factory()
    server.start()
    token = server.token()
    batch = msgspec.json.encode([_event(params={"pad": "x" * 150}) for _ in range(1000)])  # ~250 KB

    async def run() -> list[float]:
        stop = asyncio.Event()
        slow = [
            asyncio.create_task(_slow_chunked(server.port, "/uauth/v2/auth/login/profile", stop))
            for _ in range(16)
        ]
        await asyncio.sleep(0.5)  # every slow connection is mid-body
        conn = Conn("127.0.0.1", server.port, timeout=10)
        seconds = []
        for _ in range(5):
            reply = await conn.request("POST", "/v4/events/batch", batch, json_headers(token))
            assert reply is not None, "a large request waited behind slow clients until the timeout"
            assert reply.status == 202, reply.body[:300]
            seconds.append(reply.seconds)
        stop.set()
        await asyncio.gather(*slow)
        await conn.close()
        return seconds

    seconds = asyncio.run(run())
    figures(
        "slow_large_bodies", slow_connections=16, large_requests=5, large_max_ms=round(max(seconds) * 1000)
    )
    assert max(seconds) < 5.0, seconds
    server.stop()


def test_hostile_bodies_get_synerise_4xx_and_memory_stays_bounded(
    serve_factory: Callable[..., ServeProcess], figures: Callable[..., None]
) -> None:
    server = serve_factory()
    server.start()
    token = server.token()
    idle_rss, _ = server.memory_kib()
    bomb = _gzip_bomb()
    results: dict[str, str] = {}
    timings: dict[str, float] = {}
    worst = 0.0

    async def run() -> None:
        nonlocal worst
        conn = Conn("127.0.0.1", server.port, timeout=60)
        # the bomb first: the peak RSS after it shows it was never inflated
        reply = await conn.request(
            "POST", "/v4/events/custom", bomb, json_headers(token, **{"Content-Encoding": "gzip"})
        )
        assert reply is not None and reply.status == 413, reply
        assert reply.json()["errors"][0]["code"] == 1014
        _, peak = server.memory_kib()
        results["gzip bomb"] = (
            f"413 in {reply.seconds * 1000:.0f} ms, {len(bomb)} B inflating to {BOMB_BYTES >> 20} MiB,"
            f" peak RSS +{(peak - idle_rss) // 1024} MiB"
        )
        assert (peak - idle_rss) // 1024 < 64, "the gzip bomb was inflated"
        assert reply.seconds < 2.0
        for case in _cases():
            reply = await conn.request(
                "POST", case.path, case.body, json_headers(token, **(case.headers or {}))
            )
            assert reply is not None, f"{case.name}: no answer"
            worst = max(worst, reply.seconds)
            assert reply.status == case.status, (case.name, reply.status, reply.body[:500])
            if case.code is not None:
                _check_error_shape(case, reply)
                assert reply.json()["errors"][0]["code"] == case.code, (case.name, reply.body[:500])
            code = f" ({case.code})" if case.code else ""
            results[case.name] = f"{reply.status}{code} in {reply.seconds * 1000:.0f} ms"
            timings[case.name] = reply.seconds
        # the same big bodies from 8 connections at once
        many = [Conn("127.0.0.1", server.port, timeout=60) for _ in range(8)]
        heavy = [c for c in _cases() if c.name.startswith("100,000")]
        for _ in range(2):
            replies = await asyncio.gather(
                *(
                    c.request("POST", case.path, case.body, json_headers(token))
                    for c in many
                    for case in heavy[:1]
                )
            )
            assert all(r is not None and r.status < 500 for r in replies)
        for c in [conn, *many]:
            await c.close()

    started = time.monotonic()
    asyncio.run(run())
    rss, peak = server.memory_kib()
    figures(
        "hostile",
        cases=len(results),
        worst_ms=round(worst * 1000, 1),
        # one commit's worth of writer time: the first event with 100,000 new param names (see docs)
        params_100k_ms=round(timings["100,000-key params (accepted)"] * 1000),
        idle_rss_mib=idle_rss // 1024,
        rss_after_mib=rss // 1024,
        peak_rss_mib=peak // 1024,
        seconds=round(time.monotonic() - started, 1),
        results=results,
    )
    assert (peak - idle_rss) // 1024 < MEMORY_BUDGET_MIB, (idle_rss, peak)
    assert server.alive()
    server.stop()
