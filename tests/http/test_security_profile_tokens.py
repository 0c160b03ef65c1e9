"""Profile-token rules (docs/api.md §2.6) on every endpoint: allowed ones work with `client` omitted (filled from the
token), another profile's clientId/customId/email/uuid → 403 2004 at that field, everything else → 403 2005."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import assert_error, bearer, entry
from tests.support.param_cases import EVENT_ROWS, VALID_PARAMS
from tests.support.security import CLIENT_REFRESH, anonymous_login, parts, profile_secret
from tracktion.catalog import CatalogRow, load_catalog
from tracktion.http.routes import build_router

UUID_P = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the token's profile
UUID_Q = "1c8f2a6b-4d5e-4f60-9bac-1d2e3f4a5b6c"  # another profile of the same workspace
FRESH_UUID = "2d9a3b7c-5e6f-4a71-8cbd-2e3f4a5b6c7d"
AI_ROWS = [r for r in load_catalog() if r.is_ai_compat]
AI_BODIES: dict[str, dict[str, Any]] = {
    "item.search.click": {"correlationId": "c", "item": "i", "position": 1, "searchType": "autocomplete"},
    "recommendation.click": {"correlationId": "c", "item": "i"},
    "recommendation.view": {"correlationId": "c", "items": ["i"]},
}
KIND_REFUSED = entry(2005, "Authorization", "This token kind is not allowed here")


@dataclass
class Setup:
    api: Api
    token: str
    key_id: str
    p: int  # the token's clientId
    q: int  # another profile: customId q-cust, email q@example.org, uuid UUID_Q

    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def post(self, path: str, body: Any) -> Any:
        return await self.api.client.post(path, json=body, headers=self.headers())


@pytest.fixture
async def pt(api: Api) -> Setup:
    body = {
        "action": "q.seen",
        "label": "L",
        "client": {"customId": "q-cust", "email": "q@example.org", "uuid": UUID_Q},
    }
    assert (await api.post("/v4/events/custom", body)).status_code == 202
    (q_event,) = await api.events()
    token = await anonymous_login(api, await profile_secret(api), UUID_P)
    claims = parts(token)[1]
    return Setup(api, token, claims["keyId"], claims["clientId"], q_event["client"]["id"])


def envelope(row: CatalogRow, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"label": "L", **fields}
    params = VALID_PARAMS[row.batch_type or ""]
    if params is not None:
        body["params"] = json.loads(json.dumps(params))
    if row.is_custom:
        body["action"] = "door.open"
    return body


def ai_body(row: CatalogRow, **fields: Any) -> dict[str, Any]:
    return {**AI_BODIES[row.path.rsplit("/", 1)[1]], **fields}


async def only_event(s: Setup) -> dict[str, Any]:
    events = [e for e in await s.api.events() if e["client"]["id"] != s.q]
    assert len(events) == 1, events
    return events[0]


def assert_token_profile(s: Setup, ev: dict[str, Any], uuid: str = UUID_P) -> None:
    assert ev["client"]["id"] == s.p
    assert ev["params"]["clientId"] == s.p
    assert ev["params"]["uuid"] == uuid
    assert ev["params"]["modifiedBy"] == {
        "businessProfileApiKey": None,
        "clientApiKey": s.key_id,
        "clientId": s.p,
        "userId": None,
    }


# -- allowed endpoints, `client` filled from the token -----------------------------------------------------------


@pytest.mark.parametrize("row", EVENT_ROWS, ids=lambda r: r.path)
async def test_every_event_endpoint_fills_the_client_from_the_token(pt: Setup, row: CatalogRow) -> None:
    r = await pt.post(row.path, envelope(row))
    assert r.status_code == 202, r.text
    assert_token_profile(pt, await only_event(pt))


@pytest.mark.parametrize("row", AI_ROWS, ids=lambda r: r.path)
async def test_every_ai_compat_endpoint_fills_the_client_uuid_from_the_token(
    pt: Setup, row: CatalogRow
) -> None:
    r = await pt.post(row.path, ai_body(row))
    assert r.status_code == 202, r.text
    assert_token_profile(pt, await only_event(pt))


async def test_batches_fill_the_client_from_the_token(pt: Setup) -> None:
    items = [
        {"action": "a.one", "label": "L"},
        {"type": "logged-in", "label": "L", "client": None},
        {"type": "added-to-cart", "label": "L", "params": VALID_PARAMS["added-to-cart"]},
    ]
    assert (await pt.post("/v4/events/batch", items)).status_code == 202
    r = await pt.post(
        "/v4/events/ai-compat/batch",
        {"eventType": "recommendation.view", "items": [AI_BODIES["recommendation.view"]]},
    )
    assert r.status_code == 202, r.text
    r = await pt.api.client.post(
        "/v4/events/batch", json=items, params={"partial": "true"}, headers=pt.headers()
    )
    assert r.status_code == 207 and r.json()["accepted"] == 3
    events = [e for e in await pt.api.events() if e["client"]["id"] != pt.q]
    assert len(events) == 7
    for ev in events:
        assert_token_profile(pt, ev)


async def test_own_events_and_client_refresh(pt: Setup) -> None:
    assert (await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0]))).status_code == 202
    r = await pt.api.client.get("/v4/events", headers=pt.headers())
    assert r.status_code == 200
    (ev,) = r.json()
    assert ev["client"]["id"] == pt.p  # never the other profile's events
    r = await pt.api.client.get("/v4/events", headers=pt.headers(), params={"action": "q.seen"})
    assert r.json() == []
    secret = await profile_secret(pt.api)
    r = await pt.post(CLIENT_REFRESH, {"apiKey": secret})
    assert r.status_code == 200, r.text
    assert parts(r.json()["token"])[1]["clientId"] == pt.p


async def test_own_and_unowned_identifiers_are_fine_and_unowned_ones_are_attached(pt: Setup) -> None:
    client = {"id": pt.p, "uuid": FRESH_UUID, "customId": "p-cust", "email": "p@example.org"}
    r = await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0], client=client))
    assert r.status_code == 202, r.text
    assert_token_profile(pt, await only_event(pt), uuid=FRESH_UUID)
    profile = (await pt.api.get(f"/v4/clients/{pt.p}")).json()
    assert (profile["customId"], profile["email"]) == ("p-cust", "p@example.org")
    assert profile["uuids"] == [UUID_P, FRESH_UUID]
    # The same identifiers again are the token's own now.
    assert (await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0], client=client))).status_code == 202


# -- another profile's identifiers → 2004 -----------------------------------------------------------------------

FOREIGN = [
    ("id", "client.id"),
    ("customId", "client.customId"),
    ("email", "client.email"),
    ("uuid", "client.uuid"),
]


def foreign_value(s: Setup, name: str) -> Any:
    return {"id": s.q, "customId": "q-cust", "email": "Q@example.org", "uuid": UUID_Q}[name]


async def assert_mismatch(s: Setup, r: Any, *fields: tuple[str, Any]) -> None:
    entries = [
        entry(2004, field, "Profile token cannot act for another profile", str(value))
        for field, value in fields
    ]
    assert_error(r, 403, *entries)
    assert [e for e in await s.api.events() if e["client"]["id"] != s.q] == []
    (record, *_) = await s.api.quarantine()
    assert (record["reason"], record["status"]) == ("profile mismatch", 403)
    profile = (await s.api.get(f"/v4/clients/{s.p}")).json()
    assert (profile["customId"], profile["email"], profile["uuids"]) == (None, None, [UUID_P])


@pytest.mark.parametrize(("name", "field"), FOREIGN)
async def test_another_profiles_identifier_is_2004_at_that_field(pt: Setup, name: str, field: str) -> None:
    value = foreign_value(pt, name)
    # Sent with otherwise unowned identifiers, which must not be attached either.
    client = {"customId": "p-cust", "email": "p@example.org", "uuid": FRESH_UUID, name: value}
    r = await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0], client=client))
    await assert_mismatch(pt, r, (field, value))


@pytest.mark.parametrize("row", EVENT_ROWS, ids=lambda r: r.path)
async def test_every_event_endpoint_refuses_another_profile(pt: Setup, row: CatalogRow) -> None:
    r = await pt.post(row.path, envelope(row, client={"id": pt.q}))
    await assert_mismatch(pt, r, ("client.id", pt.q))


async def test_all_foreign_identifiers_at_once_report_each_field(pt: Setup) -> None:
    client = {"id": pt.q, "customId": "q-cust", "email": "q@example.org", "uuid": UUID_Q}
    r = await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0], client=client))
    await assert_mismatch(
        pt,
        r,
        ("client.id", pt.q),
        ("client.customId", "q-cust"),
        ("client.email", "q@example.org"),
        ("client.uuid", UUID_Q),
    )


async def test_unknown_client_id_is_another_profile_too(pt: Setup) -> None:
    r = await pt.post("/v4/events/custom", envelope(EVENT_ROWS[0], client={"id": 7_000_999_999}))
    await assert_mismatch(pt, r, ("client.id", 7_000_999_999))


@pytest.mark.parametrize("row", AI_ROWS, ids=lambda r: r.path)
async def test_ai_compat_refuses_another_profiles_uuid_at_client_uuid(pt: Setup, row: CatalogRow) -> None:
    r = await pt.post(row.path, ai_body(row, clientUUID=UUID_Q))
    await assert_mismatch(pt, r, ("clientUUID", UUID_Q))


async def test_batches_refuse_another_profile_at_the_items_field(pt: Setup) -> None:
    items = [
        {"action": "a", "label": "L"},
        {"action": "a", "label": "L", "client": {"email": "q@example.org"}},
    ]
    r = await pt.post("/v4/events/batch", items)
    await assert_mismatch(pt, r, ("[1].client.email", "q@example.org"))
    body = {
        "eventType": "recommendation.view",
        "items": [
            AI_BODIES["recommendation.view"],
            {**AI_BODIES["recommendation.view"], "clientUUID": UUID_Q},
        ],
    }
    r = await pt.post("/v4/events/ai-compat/batch", body)
    await assert_mismatch(pt, r, ("items[1].clientUUID", UUID_Q))


async def test_partial_batch_refuses_only_the_foreign_item(pt: Setup) -> None:
    items = [{"action": "a", "label": "L"}, {"action": "a", "label": "L", "client": {"uuid": UUID_Q}}]
    r = await pt.api.client.post(
        "/v4/events/batch", json=items, params={"partial": "true"}, headers=pt.headers()
    )
    assert r.status_code == 207
    results = r.json()["results"]
    assert results[1] == {
        "index": 1,
        "status": 403,
        "errors": [entry(2004, "[1].client.uuid", "Profile token cannot act for another profile", UUID_Q)],
    }
    assert results[0]["status"] == 202
    assert_token_profile(pt, await only_event(pt))


# -- forbidden endpoints → 2005 ------------------------------------------------------------------------------------

FORBIDDEN = [
    ("POST", "/v4/transactions", {"client": {"uuid": UUID_P}, "orderId": "o-1"}, True),
    ("POST", "/v4/transactions/batch", [{"client": {"uuid": UUID_P}, "orderId": "o-1"}], True),
    ("POST", "/v4/clients/batch", [{"uuid": UUID_P, "firstName": "Me"}], True),
    ("POST", "/v4/clients", {"uuid": UUID_P, "firstName": "Me"}, True),
    ("GET", "/v4/events/by-client/{p}", None, False),
    ("GET", "/v4/clients/{p}", None, False),
    ("GET", "/v4/clients/by-customid/p-cust", None, False),
    ("GET", "/v4/clients/by-email/p@example.org", None, False),
    ("GET", "/-/api/events", None, False),
    ("GET", "/-/api/events/6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33", None, False),
    ("GET", "/-/api/stream", None, False),
    ("GET", "/-/api/stats", None, False),
    ("GET", "/-/api/profiles", None, False),
    ("GET", "/-/api/definitions", None, False),
    ("GET", "/-/api/definitions/door.open", None, False),
    ("GET", "/-/api/quarantine", None, False),
    ("GET", "/-/api/quarantine/x", None, False),
    ("DELETE", "/-/api/quarantine/x", None, False),
    ("POST", "/-/api/erasures", {"customId": "p-cust"}, False),
    ("GET", "/-/api/erasures", None, False),
    ("GET", "/-/api/erasures/x", None, False),
    ("GET", "/-/api/suppressions", None, False),
    ("DELETE", "/-/api/suppressions/x", None, False),
    ("DELETE", "/v4/clients/{p}", None, False),
    ("GET", "/v4/auth/refresh/profile", None, False),
    # §14: destinations are workspace business, never a profile's
    ("POST", "/-/api/destinations", {"name": "d", "type": "webhook", "config": {"url": "http://x"}}, False),
    ("GET", "/-/api/destinations", None, False),
    ("GET", "/-/api/destinations/x", None, False),
    ("PATCH", "/-/api/destinations/x", {"name": "e"}, False),
    ("DELETE", "/-/api/destinations/x", None, False),
    ("POST", "/-/api/destinations/x/pause", None, False),
    ("POST", "/-/api/destinations/x/resume", None, False),
    ("GET", "/-/api/destinations/x/status", None, False),
    ("GET", "/-/api/destinations/x/failures", None, False),
    ("POST", "/-/api/destinations/x/replay", {}, False),
    ("GET", "/-/api/destinations/x/replays/y", None, False),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "write"), FORBIDDEN, ids=[f"{m} {p}" for m, p, _, _ in FORBIDDEN]
)
async def test_other_endpoints_refuse_profile_tokens_with_2005(
    pt: Setup, method: str, path: str, body: Any, write: bool
) -> None:
    path = path.format(p=pt.p)
    r = await pt.api.client.request(method, path, json=body, headers=pt.headers())
    assert r.status_code == 403, r.text
    (error,) = r.json()["errors"]
    assert (error["code"], error["field"]) == (2005, "Authorization")
    if path != "/v4/auth/refresh/profile":
        assert_error(r, 403, KIND_REFUSED, path=path)
    records = await pt.api.quarantine()
    if write:  # §1.4: write endpoints record step-3 refusals
        assert [(x["reason"], x["status"], x["endpoint"]) for x in records] == [("token kind", 403, path)]
    else:
        assert records == []
    assert [e for e in await pt.api.events() if e["client"]["id"] != pt.q] == []
    profile = (await pt.api.get(f"/v4/clients/{pt.p}")).json()
    assert profile["firstName"] is None


def test_every_route_is_classified() -> None:
    """A new credential endpoint must be added to one of the lists above: what a profile token may do there is a
    decision, not an accident."""
    router = build_router(admin=True)
    allowed = {("POST", r.path) for r in load_catalog()} | {
        ("POST", "/v4/events/batch"),
        ("POST", "/v4/events/ai-compat/batch"),
        ("GET", "/v4/events"),
        ("POST", CLIENT_REFRESH),
        ("POST", "/sauth/v2/auth/refresh/client"),  # §2.2: the same endpoint under its older path
    }
    forbidden = {(m, router.match(m, p.format(p=7))[0].template) for m, p, _, _ in FORBIDDEN}
    routes = {
        (method, route.template)
        for route in router.routes()
        for method, endpoint in route.methods.items()
        if endpoint.auth == "credential"
    }
    assert routes == allowed | forbidden
