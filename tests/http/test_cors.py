"""CORS for browser SDKs (docs/api.md §13.8, `TRACKTION_CORS_ORIGINS`)."""

from __future__ import annotations

from tests.support.http import MakeApi

SHOP = "https://shop.example.com"
EVENT = {"action": "page.view", "label": "Home", "client": {"customId": "cors-1"}}


async def test_without_origins_options_is_405_and_no_answer_names_an_origin(make_api: MakeApi) -> None:
    api = await make_api()
    pre = await api.client.options(
        "/v4/events/custom", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    )
    assert pre.status_code == 405
    sent = await api.client.post("/v4/events/custom", json=EVENT, headers={**api.auth(), "Origin": SHOP})
    assert sent.status_code == 202
    assert not [h for h in sent.headers if h.startswith("access-control-")]


async def test_a_listed_origin_gets_its_preflight_and_readable_answers(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=(SHOP,))
    pre = await api.client.options(
        "/v4/events/custom",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, api-version",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == SHOP
    assert pre.headers["vary"] == "Origin"
    assert "POST" in pre.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "api-version"} <= allowed
    sent = await api.client.post("/v4/events/custom", json=EVENT, headers={**api.auth(), "Origin": SHOP})
    assert sent.status_code == 202 and sent.content == b""
    assert sent.headers["access-control-allow-origin"] == SHOP
    assert "X-Request-Id" in sent.headers["access-control-expose-headers"]
    # The shared 202 answer was copied, not changed: a request without Origin gets no CORS header.
    plain = await api.client.post("/v4/events/custom", json=EVENT, headers=api.auth())
    assert plain.status_code == 202 and "access-control-allow-origin" not in plain.headers
    # Errors are readable by the page too (a browser SDK must see Synerise's error body).
    bad = await api.client.post(
        "/v4/events/custom", json={"action": "x"}, headers={**api.auth(), "Origin": SHOP}
    )
    assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == SHOP


async def test_other_origins_and_unknown_methods_get_no_cors(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=(SHOP,))
    other = await api.client.options(
        "/v4/events/custom",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.status_code == 405 and "access-control-allow-origin" not in other.headers
    sent = await api.client.post(
        "/v4/events/custom", json=EVENT, headers={**api.auth(), "Origin": "https://evil.example"}
    )
    assert sent.status_code == 202 and "access-control-allow-origin" not in sent.headers
    # A preflight for a method the route does not serve is the plain 405 (with the origin readable).
    wrong = await api.client.options(
        "/v4/events/custom", headers={"Origin": SHOP, "Access-Control-Request-Method": "DELETE"}
    )
    assert wrong.status_code == 405


async def test_star_allows_any_origin_by_name(make_api: MakeApi) -> None:
    api = await make_api(cors_origins=("*",))
    pre = await api.client.options(
        "/-/api/events", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert pre.headers["access-control-allow-methods"] == "GET"
