"""The one route table: Synerise's paths verbatim, tracktion's own under `/-/` (contract §1.1, §2.5)."""

from __future__ import annotations

from functools import partial

from tracktion.catalog import load_catalog
from tracktion.http import batch, public, reads, tokens
from tracktion.http.events import single_event
from tracktion.http.routing import Endpoint, Router

EVENTS_READ = "API_EVENTS_READ"
BOTH = frozenset({"workspace", "profile"})
PROFILE = frozenset({"profile"})


def build_router() -> Router:
    r = Router()
    # Public (§13.1) and token endpoints (§2.2): no credential.
    r.add("GET", "/-/health", Endpoint(public.health, auth="none"))
    r.add("GET", "/-/ready", Endpoint(public.ready, auth="none"))
    r.add("GET", "/-/jwks.json", Endpoint(tokens.jwks, auth="none"))
    r.add("POST", "/uauth/v2/auth/login/profile", Endpoint(tokens.workspace_login, auth="none", body=True))
    r.add(
        "POST",
        "/v4/auth/login/profile",
        Endpoint(partial(tokens.workspace_login, deprecated=True), auth="none", body=True),
    )
    r.add("GET", "/v4/auth/refresh/profile", Endpoint(tokens.workspace_refresh, kinds=BOTH))

    # Event writes: one generic handler per catalog row (§4.1); ai-compat rows come with their own schema.
    for row in load_catalog():
        if row.is_ai_compat:
            continue
        r.add(
            "POST",
            row.path,
            Endpoint(
                partial(single_event, row=row), permission=row.permission, kinds=BOTH, body=True, write=True
            ),
        )

    r.add(
        "POST",
        "/v4/events/batch",
        Endpoint(batch.events_batch, permission="API_BATCH_EVENTS_CREATE", kinds=BOTH, body=True, write=True),
    )

    # Transactions (§6): workspace credentials only.
    r.add(
        "POST",
        "/v4/transactions",
        Endpoint(batch.transaction, permission="API_TRANSACTION_CREATE", body=True, write=True),
    )
    r.add(
        "POST",
        "/v4/transactions/batch",
        Endpoint(batch.transactions_batch, permission="API_BATCH_TRANSACTION_CREATE", body=True, write=True),
    )

    # Reads (§8, §13.2–13.4).
    r.add("GET", "/v4/events/by-client/{clientId}", Endpoint(reads.events_by_client, permission=EVENTS_READ))
    r.add("GET", "/v4/events", Endpoint(reads.own_events, kinds=PROFILE))
    r.add("GET", "/-/api/events", Endpoint(reads.search_events, permission=EVENTS_READ))
    r.add("GET", "/-/api/events/{uuid}", Endpoint(reads.get_event, permission=EVENTS_READ))
    r.add("GET", "/-/api/definitions", Endpoint(reads.list_definitions, permission=EVENTS_READ))
    r.add("GET", "/-/api/definitions/{action}", Endpoint(reads.get_definition, permission=EVENTS_READ))
    r.add("GET", "/-/api/quarantine", Endpoint(reads.list_quarantine, permission=EVENTS_READ))
    r.add("GET", "/-/api/quarantine/{id}", Endpoint(reads.get_quarantine, permission=EVENTS_READ))
    r.add(
        "DELETE",
        "/-/api/quarantine/{id}",
        Endpoint(reads.delete_quarantine, permission="API_QUARANTINE_DELETE"),
    )
    return r
