"""Transaction endpoints (docs/api.md §6): `POST /v4/transactions` and its batch, workspace credentials only."""

from __future__ import annotations

from typing import Any

from tracktion.domain.models import Credential, TransactionIn
from tracktion.http.batch import run_batch
from tracktion.http.context import Context
from tracktion.http.request import ACCEPTED, Request, Response
from tracktion.http.writes import Validate, commit, edge_item, write_request
from tracktion.schemas.transaction import validate_transaction


def transaction_validator(request: Request, *, item: bool = False) -> Validate:
    received = request.received_ms

    def validate(obj: Any) -> TransactionIn:
        return validate_transaction(obj, received, item=item)

    return validate


async def transaction(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/transactions`: one charge plus its `product.buy` events, committed together."""
    await commit(ctx, write_request(request, credential, [edge_item(transaction_validator(request), body)]))
    return ACCEPTED


async def transactions_batch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return await run_batch(ctx, request, credential, body, transaction_validator(request, item=True))
