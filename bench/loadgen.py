"""Load generators: `wrk` with bench/lua/load.lua when it is installed, else a raw-socket asyncio client.

Both are closed-loop: each connection sends a request, waits for its response, sends the next (HTTP/1.1
keep-alive). Both fill the same `LoadResult`, and the result says which generator produced it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import latency_summary

LUA_SCRIPT = Path(__file__).parent / "lua" / "load.lua"
POOL_PRIME = 7919  # same spreading of the @K@ key per connection/thread as the Lua script


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    method: str
    path: str  # with query string
    token: str | None
    template: bytes | None  # body with @N@ / @K@ placeholders, or None for no body
    pool: int
    connections: int
    duration_s: float
    timeout_s: float = 30.0  # closed loop: a slow answer is a result, not an error
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))  # prefix of @N@, new per LoadSpec


@dataclass
class LoadResult:
    generator: str
    requests: int  # completed responses
    non_2xx: int
    socket_errors: int
    duration_s: float
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, p999, max, mean
    statuses: dict[str, int] = field(default_factory=dict)  # only the Python client can count these
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok_requests(self) -> int:
        return max(0, self.requests - self.non_2xx)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def render(template: bytes, n: str, k: str) -> bytes:
    return template.replace(b"@N@", n.encode()).replace(b"@K@", k.encode())


# -- wrk -------------------------------------------------------------------------------------------------
def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str | None:
    exe = wrk_path()
    if exe is None:
        return None
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "wrk (unknown version)"


def wrk_threads(connections: int) -> int:
    return max(1, min(2, connections))


def wrk_command(spec: LoadSpec, body_file: Path | None) -> list[str]:
    exe = wrk_path()
    assert exe is not None
    return [
        exe,
        f"-t{wrk_threads(spec.connections)}",
        f"-c{spec.connections}",
        f"-d{max(1, round(spec.duration_s))}s",
        f"--timeout={max(1, round(spec.timeout_s))}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        f"http://{spec.host}:{spec.port}{spec.path}",
        "--",
        spec.method,
        spec.token or "-",
        str(body_file) if body_file is not None else "-",
        str(spec.pool),
        spec.run_id,
    ]


def run_wrk(spec: LoadSpec, scratch: Path) -> LoadResult:
    body_file: Path | None = None
    if spec.template is not None:
        body_file = scratch / "body.json"
        body_file.write_bytes(spec.template)
    cmd = wrk_command(spec, body_file)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=spec.duration_s + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk_output(proc.stdout)


_BENCH_JSON = re.compile(r"^BENCH_JSON (\{.*\})\s*$", re.MULTILINE)
_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0, "h": 3_600_000_000.0}


def _duration_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_US[m.group(2)]


def parse_wrk_text(stdout: str) -> dict[str, Any]:
    """wrk's own human-readable report (with --latency) → numbers. Used when the Lua summary is missing."""
    out: dict[str, Any] = {"errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}}
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", stdout)
    if m:
        out["requests"] = int(m.group(1))
        out["duration_us"] = _duration_us(m.group(2))
    m = re.search(r"Requests/sec:\s+([\d.]+)", stdout)
    if m:
        out["requests_per_s"] = float(m.group(1))
    lat: dict[str, float] = {}
    m = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", stdout)
    if m:
        lat["mean"] = _duration_us(m.group(1))
        lat["stdev"] = _duration_us(m.group(2))
        lat["max"] = _duration_us(m.group(3))
    for q, value in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)\s*$", stdout, re.MULTILINE):
        lat[f"p{q}"] = _duration_us(value)
    out["latency_us"] = lat
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    if m:
        for name, value in zip(("connect", "read", "write", "timeout"), m.groups(), strict=True):
            out["errors"][name] = int(value)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    if m:
        out["errors"]["status"] = int(m.group(1))
    return out


def parse_wrk_output(stdout: str) -> LoadResult:
    """The BENCH_JSON line printed by load.lua's `done` (exact histogram percentiles), else the text."""
    m = _BENCH_JSON.search(stdout)
    data: dict[str, Any] = json.loads(m.group(1)) if m else parse_wrk_text(stdout)
    if "requests" not in data or "duration_us" not in data:
        raise ValueError(f"unrecognised wrk output:\n{stdout}")
    lat_us = data.get("latency_us", {})
    latency = {
        key: lat_us[src] / 1000.0
        for key, src in (
            ("p50_ms", "p50"),
            ("p90_ms", "p90"),
            ("p99_ms", "p99"),
            ("p999_ms", "p999"),
            ("max_ms", "max"),
            ("mean_ms", "mean"),
        )
        if src in lat_us
    }
    errors = data.get("errors", {})
    return LoadResult(
        generator="wrk",
        requests=int(data["requests"]),
        non_2xx=int(errors.get("status", 0)),
        socket_errors=sum(int(errors.get(k, 0)) for k in ("connect", "read", "write", "timeout")),
        duration_s=float(data["duration_us"]) / 1_000_000.0,
        latency_ms=latency,
        raw={"source": "lua" if m else "text", **data},
    )


# -- asyncio fallback -------------------------------------------------------------------------------------
class _Shared:
    def __init__(self) -> None:
        self.latencies_us: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0


def _request_bytes(spec: LoadSpec, body: bytes | None) -> bytes:
    lines = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {spec.host}:{spec.port}"]
    if spec.token:
        lines.append(f"Authorization: Bearer {spec.token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            raise RuntimeError("chunked responses are not supported by the fallback client")
    if length:
        await reader.readexactly(length)
    return status


async def _connection(spec: LoadSpec, index: int, start: float, deadline: float, shared: _Shared) -> None:
    static = None
    if spec.template is None or (b"@N@" not in spec.template and b"@K@" not in spec.template):
        static = _request_bytes(spec, spec.template)
    reader, writer = await asyncio.open_connection(spec.host, spec.port)
    counter = 0
    offset = index * POOL_PRIME
    try:
        while time.perf_counter() < deadline:
            counter += 1
            if static is not None:
                data = static
            else:
                assert spec.template is not None
                body = render(
                    spec.template, f"{spec.run_id}-{index}-{counter}", str((offset + counter) % spec.pool)
                )
                data = _request_bytes(spec, body)
            t0 = time.perf_counter()
            writer.write(data)
            status = await asyncio.wait_for(_read_response(reader), spec.timeout_s)
            t1 = time.perf_counter()
            if t0 >= start:
                shared.latencies_us.append((t1 - t0) * 1_000_000.0)
                shared.statuses[status] += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        shared.errors += 1
    finally:
        writer.close()


async def _run_python(spec: LoadSpec) -> tuple[_Shared, float]:
    shared = _Shared()
    start = time.perf_counter()
    deadline = start + spec.duration_s
    await asyncio.gather(*(_connection(spec, i, start, deadline, shared) for i in range(spec.connections)))
    return shared, time.perf_counter() - start


def run_python(spec: LoadSpec) -> LoadResult:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    shared, elapsed = runner(_run_python(spec))
    requests = len(shared.latencies_us)
    non_2xx = sum(n for status, n in shared.statuses.items() if not 200 <= status < 400)
    return LoadResult(
        generator="python-asyncio",
        requests=requests,
        non_2xx=non_2xx,
        socket_errors=shared.errors,
        duration_s=elapsed if requests else spec.duration_s,
        latency_ms=latency_summary(shared.latencies_us),
        statuses={str(k): v for k, v in sorted(shared.statuses.items())},
    )


class LoadGenerator:
    """Picks wrk when present (unless told otherwise) and runs one closed-loop load."""

    def __init__(self, preference: str, scratch: Path) -> None:
        if preference not in ("auto", "wrk", "python"):
            raise ValueError(preference)
        if preference == "wrk" and wrk_path() is None:
            raise SystemExit("--load-generator wrk: wrk is not installed (apt-get install -y wrk)")
        self.name = "wrk" if preference != "python" and wrk_path() is not None else "python-asyncio"
        self.version = wrk_version() if self.name == "wrk" else "bench.loadgen asyncio raw-socket client"
        self.scratch = scratch

    def run(self, spec: LoadSpec) -> LoadResult:
        if spec.duration_s <= 0:
            return LoadResult(self.name, 0, 0, 0, 0.0, {"p50_ms": math.nan})
        if self.name == "wrk":
            return run_wrk(spec, self.scratch)
        return run_python(spec)
