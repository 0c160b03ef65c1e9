"""One registry of settings: name, type, default, environment variable, help.

Precedence: command-line flag > `TRACKTION_*` environment variable > default. Nothing is read at import
time; `Settings.load()` is called by the CLI (or a test) and the result passed to `create_app`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(text: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip())


def _origins(text: str) -> tuple[str, ...]:
    return tuple(p.strip().rstrip("/") for p in text.split(",") if p.strip())


def _optional(text: str) -> str | None:
    return text or None


def _on_off(text: str) -> str:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"expected 'on' or 'off', got {text!r}")
    return value


def _sqlite_writer(text: str) -> str:
    if text not in ("process", "thread"):
        raise ValueError(f"expected 'process' or 'thread', got {text!r}")
    return text


def _log_format(text: str) -> str:
    if text not in ("auto", "json", "text"):
        raise ValueError(f"expected 'auto', 'json' or 'text', got {text!r}")
    return text


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"env": "TRACKTION_HOST", "help": "address to listen on"})
    port: int = field(default=8080, metadata={"env": "TRACKTION_PORT", "help": "port to listen on"})
    data_dir: Path = field(
        default=Path("./tracktion-data"),
        metadata={"env": "TRACKTION_DATA_DIR", "help": "SQLite store and JWT signing key", "parse": Path},
    )
    database_url: str | None = field(
        default=None,
        metadata={
            "env": "TRACKTION_DATABASE_URL",
            "help": "postgresql://… selects PostgreSQL",
            "parse": _optional,
        },
    )
    bootstrap_api_key: str | None = field(
        default=None,
        metadata={
            "env": "TRACKTION_BOOTSTRAP_API_KEY",
            "help": "API key of the first workspace on an empty store",
            "parse": _optional,
            "secret": True,
        },
    )
    token_ttl_seconds: int = field(
        default=3600, metadata={"env": "TRACKTION_TOKEN_TTL_SECONDS", "help": "JWT lifetime in seconds"}
    )
    jwt_issuer: str = field(
        default="tracktion", metadata={"env": "TRACKTION_JWT_ISSUER", "help": "JWT `iss`"}
    )
    trusted_proxies: tuple[IPNetwork, ...] = field(
        default=(),
        metadata={
            "env": "TRACKTION_TRUSTED_PROXIES",
            "help": "CIDRs whose X-Forwarded-For is honoured",
            "parse": _networks,
        },
    )
    cors_origins: tuple[str, ...] = field(
        default=(),
        metadata={
            "env": "TRACKTION_CORS_ORIGINS",
            "help": "comma-separated browser origins allowed to call the API (CORS), or *; empty: none",
            "parse": _origins,
        },
    )
    admin_token: str | None = field(
        default=None,
        metadata={
            "env": "TRACKTION_ADMIN_TOKEN",
            "help": "enables /-/admin/*",
            "parse": _optional,
            "secret": True,
        },
    )
    metrics_token: str | None = field(
        default=None,
        metadata={
            "env": "TRACKTION_METRICS_TOKEN",
            "help": "bearer token protecting /-/metrics (unset: loopback and trusted proxies only)",
            "parse": _optional,
            "secret": True,
        },
    )
    quarantine_max_rows: int = field(
        default=0,
        metadata={"env": "TRACKTION_QUARANTINE_MAX_ROWS", "help": "per-workspace cap, 0 = unlimited"},
    )
    quarantine_retention_days: int = field(
        default=30,
        metadata={
            "env": "TRACKTION_QUARANTINE_RETENTION_DAYS",
            "help": "quarantine records older than this are deleted (docs/api.md §15.2), 0 = forever",
        },
    )
    lifecycle_chunk_rows: int = field(
        default=1_000,
        metadata={
            "env": "TRACKTION_LIFECYCLE_CHUNK_ROWS",
            "help": "rows per background deletion transaction (erasure, retention), at most 10000",
        },
    )
    lifecycle_step_ms: int = field(
        default=5,
        metadata={
            "env": "TRACKTION_LIFECYCLE_STEP_MS",
            "help": "the duration a background deletion transaction aims at (fewer rows when they take"
            " longer), 0 = always TRACKTION_LIFECYCLE_CHUNK_ROWS",
        },
    )
    write_queue_size: int = field(
        default=10_000,
        metadata={
            "env": "TRACKTION_WRITE_QUEUE_SIZE",
            "help": "pending write requests before 503 (overload)",
        },
    )
    max_large_requests: int = field(
        default=4,
        metadata={
            "env": "TRACKTION_MAX_LARGE_REQUESTS",
            "help": "bodies over 64 KiB processed at once (bounds memory); others wait",
        },
    )
    sqlite_writer: str = field(
        default="process",
        metadata={
            "env": "TRACKTION_SQLITE_WRITER",
            "help": "SQLite writes in a 'process' of their own (uses a second core) or a 'thread'",
            "parse": _sqlite_writer,
        },
    )
    header_timeout_seconds: float = field(
        default=30.0,
        metadata={
            "env": "TRACKTION_HEADER_TIMEOUT_SECONDS",
            "help": "a request's headers must arrive within this time, else the connection is closed",
            "parse": float,
        },
    )
    keepalive_timeout_seconds: float = field(
        default=75.0,
        metadata={
            "env": "TRACKTION_KEEPALIVE_TIMEOUT_SECONDS",
            "help": "an idle kept-alive connection is closed after this time",
            "parse": float,
        },
    )
    max_connections: int = field(
        default=1024,
        metadata={
            "env": "TRACKTION_MAX_CONNECTIONS",
            "help": "open connections per server process; the next one gets 503 and is closed",
        },
    )
    workers: int = field(default=1, metadata={"env": "TRACKTION_WORKERS", "help": "server processes"})
    log_level: str = field(
        default="info", metadata={"env": "TRACKTION_LOG_LEVEL", "help": "debug, info, warning"}
    )
    log_format: str = field(
        default="auto",
        metadata={
            "env": "TRACKTION_LOG_FORMAT",
            "help": "json (one object per line), text (readable), or auto: text on a terminal, else json",
            "parse": _log_format,
        },
    )
    access_log: bool = field(
        default=False, metadata={"env": "TRACKTION_ACCESS_LOG", "help": "log one line per request"}
    )

    relay: str = field(
        default="on",
        metadata={
            "env": "TRACKTION_RELAY",
            "help": "'off' = this node delivers no destination (docs/api.md §14.4)",
            "parse": _on_off,
        },
    )
    # The relay's timings (§14.2, §14.4). The defaults are the contract's; tests shorten them.
    relay_backoff_base_seconds: float = field(
        default=1.0,
        metadata={"env": "TRACKTION_RELAY_BACKOFF_BASE_SECONDS", "help": "first retry delay", "parse": float},
    )
    relay_backoff_cap_seconds: float = field(
        default=300.0,
        metadata={
            "env": "TRACKTION_RELAY_BACKOFF_CAP_SECONDS",
            "help": "longest retry delay",
            "parse": float,
        },
    )
    relay_lease_seconds: float = field(
        default=20.0,
        metadata={
            "env": "TRACKTION_RELAY_LEASE_SECONDS",
            "help": "a destination's lease; another node takes over this long after its holder died",
            "parse": float,
        },
    )

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then the environment, then explicit overrides (CLI flags; None = not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _parser(f)(raw)
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        return cls(**values)

    def redacted(self) -> dict[str, Any]:
        """For logs and banners: secrets never appear."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.metadata.get("secret") and value else value
        return out


def _parser(f: Any) -> Callable[[str], Any]:
    if "parse" in f.metadata:
        return f.metadata["parse"]
    if f.type in ("int", int):
        return int
    if f.type in ("bool", bool):
        return lambda s: s.strip().lower() in {"1", "true", "yes", "on"}
    return str


def help_for(name: str) -> str:
    for f in fields(Settings):
        if f.name == name:
            return f"{f.metadata['help']} (env {f.metadata['env']}, default {f.default!s})"
    raise KeyError(name)


def redact_url(url: str) -> str:
    """A database URL fit for logs and banners: the password (if any) replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def store_description(settings: Settings) -> str:
    if settings.database_url:
        return f"PostgreSQL, {redact_url(settings.database_url)}"
    writer = "writer process" if settings.sqlite_writer == "process" else "writer thread"
    return f"SQLite, {settings.data_dir.resolve() / 'tracktion.db'} ({writer})"
