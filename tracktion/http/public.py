"""Public endpoints (contract §13.1): liveness and readiness."""

from __future__ import annotations

from typing import Any

from tracktion.domain.models import Credential
from tracktion.errors import StorageUnavailable
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response

_OK = json_response({"status": "ok"})


async def health(ctx: Context, request: Request, credential: Credential | None, body: Any) -> Response:
    return _OK


async def ready(ctx: Context, request: Request, credential: Credential | None, body: Any) -> Response:
    if not await ctx.store.ready():
        raise StorageUnavailable("Store is not accepting writes")
    return json_response({"status": "ready"})
