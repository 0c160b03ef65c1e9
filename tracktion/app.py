"""The application factory: `create_app(settings, store=None)` builds everything; nothing is read from the
environment at import time."""

from __future__ import annotations

import logging
from typing import Any

from tracktion.auth.jwt import SigningKey, TokenService
from tracktion.bootstrap import bootstrap
from tracktion.domain.ports import Store
from tracktion.http.asgi import HttpApp
from tracktion.http.authn import Authenticator
from tracktion.http.context import Context
from tracktion.http.routes import build_router
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

    return SQLiteStore(
        settings.data_dir / "tracktion.db",
        queue_size=settings.write_queue_size,
        quarantine_max_rows=settings.quarantine_max_rows,
        writer_process=settings.sqlite_writer == "process",
    )


class TracktionApp:
    """The ASGI application: HTTP requests go to `HttpApp`; lifespan opens and closes the store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.http = HttpApp(ctx, build_router(admin=bool(ctx.settings.admin_token)))
        self.started = False

    async def startup(self) -> None:
        if self.started:
            return
        self._wire_metrics()
        await self.ctx.store.start()
        await bootstrap(self.ctx.store, self.ctx.settings.bootstrap_api_key)
        self.started = True

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

    async def shutdown(self) -> None:
        if self.started:
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
    settings: Settings, store: Store | None = None, *, signing_key: SigningKey | None = None
) -> TracktionApp:
    """The app over `store` (default: the one `settings` names), signing tokens with `signing_key`
    (default: `<data_dir>/jwt-private.pem`, created on first start)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = store or open_store(settings)
    key = SigningKey.load_or_create(settings.data_dir) if signing_key is None else signing_key
    tokens = TokenService(key, settings.jwt_issuer, settings.token_ttl_seconds)
    ctx = Context(
        settings=settings, store=store, signing_key=key, tokens=tokens, authn=Authenticator(store, tokens)
    )
    return TracktionApp(ctx)
