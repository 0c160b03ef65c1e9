"""The application factory: `create_app(settings, store=None)` builds everything; nothing is read from the
environment at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from typing import Any

from tracktion import datadir
from tracktion.auth.jwt import KEY_FILE, SigningKey, TokenService
from tracktion.bootstrap import SigningKeyRefused, bootstrap, check_signing_key
from tracktion.domain.lifecycle import LifecycleWorker, SuppressionCache
from tracktion.domain.ports import Store
from tracktion.domain.relay import relay_store
from tracktion.http.asgi import HttpApp
from tracktion.http.authn import Authenticator
from tracktion.http.context import Context
from tracktion.http.routes import build_router
from tracktion.relay.manager import Relay
from tracktion.relay.worker import Timing
from tracktion.settings import Settings

log = logging.getLogger("tracktion")


def open_store(settings: Settings) -> Store:
    if settings.database_url:
        if not settings.database_url.startswith(("postgresql://", "postgres://")):
            raise SystemExit("TRACKTION_DATABASE_URL: expected a postgresql://… URL")
        try:
            from tracktion.storage.postgres import PostgresStore
        except ImportError as exc:  # psycopg is the optional `postgres` extra
            raise SystemExit(f"TRACKTION_DATABASE_URL: install tracktion[postgres] ({exc})") from exc
        return PostgresStore(
            settings.database_url,
            queue_size=settings.write_queue_size,
            quarantine_max_rows=settings.quarantine_max_rows,
        )
    from tracktion.storage.sqlite import SQLiteStore

    datadir.prepare(settings.data_dir)
    datadir.private_sqlite(settings.data_dir / "tracktion.db")
    return SQLiteStore(
        settings.data_dir / "tracktion.db",
        queue_size=settings.write_queue_size,
        quarantine_max_rows=settings.quarantine_max_rows,
        writer_process=settings.sqlite_writer == "process",
    )


class TracktionApp:
    """The ASGI application: HTTP requests go to `HttpApp`; lifespan opens and closes the store.

    `watch_signals` (what `tracktion serve` sets): SIGINT and SIGTERM also end the open live streams, and the
    objects built by start-up are frozen out of the garbage collector's passes."""

    def __init__(self, ctx: Context, *, watch_signals: bool = False) -> None:
        self.ctx = ctx
        self.http = HttpApp(ctx, build_router(admin=bool(ctx.settings.admin_token)))
        self.started = False
        self.watch_signals = watch_signals
        self._chained: dict[int, Any] = {}

    async def startup(self) -> None:
        if self.started:
            return
        if self.watch_signals:
            self._end_streams_on_signals()
        self._wire_metrics()
        ctx = self.ctx
        await ctx.store.start()
        await check_signing_key(ctx.store, ctx.signing_key, ctx.settings.data_dir / KEY_FILE)
        await bootstrap(ctx.store, ctx.settings.bootstrap_api_key)
        self._start_lifecycle()
        if ctx.relay is not None:
            await ctx.relay.start()  # §14.4: delivers only with TRACKTION_RELAY=on
        self.started = True
        if self.watch_signals:
            # `tracktion serve` (issue 23): what start-up built lives as long as the process; frozen, the
            # collector's full passes no longer walk it (~4% of a single-event request's CPU was gc). Not in
            # tests, whose many short-lived apps would keep their cycles for good.
            gc.freeze()

    def _start_lifecycle(self) -> None:
        """§15: the store's retention floors follow the app's clock (tests inject theirs), and the background
        deletions (erasures, retention) run in this process until shutdown, resuming whatever a previous
        run left unfinished."""
        ctx = self.ctx
        store: Any = ctx.store
        if hasattr(store, "clock_ms"):
            store.clock_ms = lambda: ctx.clock_ms()
            store.quarantine_retention_days = ctx.settings.quarantine_retention_days
        ctx.suppressions = SuppressionCache(ctx.store)
        ctx.lifecycle = LifecycleWorker(
            ctx.store,
            lambda: ctx.clock_ms(),
            quarantine_retention_days=ctx.settings.quarantine_retention_days,
            chunk_rows=max(1, min(ctx.settings.lifecycle_chunk_rows, 10_000)),  # §15.1: ≤ 10,000 per commit
            step_seconds=max(0, ctx.settings.lifecycle_step_ms) / 1000,
        )
        ctx.lifecycle.start()

    def _wire_metrics(self) -> None:
        ctx, metrics = self.ctx, self.ctx.metrics
        writer = getattr(ctx.store, "writer", None)
        if writer is not None:

            def on_commit(seconds: float, jobs: int) -> None:
                metrics.commit_duration.observe(seconds)
                metrics.commit_size.observe(jobs)

            writer.on_commit = on_commit
            metrics.gauge(
                "tracktion_write_queue_depth", "Write requests waiting for the writer", lambda: writer.depth
            )
        metrics.gauge(
            "tracktion_open_requests", "Requests being answered, streams included", lambda: ctx.in_flight
        )
        metrics.gauge(
            "tracktion_stream_clients", "Open /-/api/stream connections", lambda: ctx.stream_clients
        )

    def _end_streams_on_signals(self) -> None:
        """uvicorn tells the app it stops (lifespan shutdown) only after every response has ended, and a
        live stream never ends by itself: each Ctrl-C with a debugger tab or `tail` open waited out the
        graceful timeout, then cancelled the streams with a traceback. So the app hears the stop signal
        too, chained in front of the server's own handler, and ends its streams at once."""
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread; no server installs one elsewhere
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # default or ignored: no server is waiting for this signal, nothing to chain

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.ctx.changes.close)
                previous(signum, frame)

            self._chained[sig] = previous
            signal.signal(sig, handler)

    async def shutdown(self) -> None:
        for sig, previous in self._chained.items():
            signal.signal(sig, previous)
        self._chained.clear()
        if self.started:
            if self.ctx.lifecycle is not None:
                await self.ctx.lifecycle.stop()
            if self.ctx.relay is not None:
                await self.ctx.relay.stop()  # releases its leases: another node takes over at once
            await self.ctx.store.close()
            self.started = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except SigningKeyRefused as exc:  # a message for the operator, not a bug: no traceback
                    log.error("%s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    watch_signals: bool = False,
    signing_key: SigningKey | None = None,
) -> TracktionApp:
    """The app over `store` (default: the one `settings` names), signing tokens with `signing_key`
    (default: `<data_dir>/jwt-private.pem`, created on first start)."""
    datadir.prepare(settings.data_dir)  # 0700 (§13.8): it holds the signing key on either backend
    store = store or open_store(settings)
    key = SigningKey.load_or_create(settings.data_dir) if signing_key is None else signing_key
    tokens = TokenService(key, settings.jwt_issuer, settings.token_ttl_seconds)
    ctx = Context(
        settings=settings, store=store, signing_key=key, tokens=tokens, authn=Authenticator(store, tokens)
    )
    ctx.relay = Relay(
        relay_store(store),
        ctx.metrics,
        ctx.changes,
        enabled=settings.relay == "on",
        lease_seconds=settings.relay_lease_seconds,
        timing=Timing(settings.relay_backoff_base_seconds, settings.relay_backoff_cap_seconds),
    )
    return TracktionApp(ctx, watch_signals=watch_signals)
