"""`/-/metrics`: valid Prometheus text that moves as requests are made, optionally protected, no ids."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api
from tests.support.http import MakeApi, client_for


async def scrape(api: Api) -> str:
    """`/-/metrics` as a local scraper reads it (other peers get 404 without a metrics token, §13.1)."""
    r = await client_for(api, ("127.0.0.1", 9100)).client.get("/-/metrics")
    assert r.status_code == 200, r.text
    return r.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_counters_move_with_requests(api: Api) -> None:
    before = samples(await scrape(api))
    for _ in range(3):
        r = await api.send_event({"action": "a.b", "label": "l", "client": {"customId": "who"}})
        assert r.status_code == 202
    r = await client_for(api, ("127.0.0.1", 9100)).client.get("/-/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = samples(r.text)
    key = (
        "tracktion_http_requests_total",
        (("method", "POST"), ("route", "/v4/events/custom"), ("status", "202")),
    )
    assert after[key] - before.get(key, 0) == 3
    count = ("tracktion_http_request_duration_seconds_count", (("route", "/v4/events/custom"),))
    assert after[count] - before.get(count, 0) == 3
    assert after[("tracktion_commit_duration_seconds_count", ())] >= 1
    assert ("tracktion_write_queue_depth", ()) in after
    # Route templates only: no identifier ever becomes a label.
    await api.get("/v4/events/by-client/7000000001")
    text = await scrape(api)
    assert 'route="/v4/events/by-client/{clientId}"' in text
    assert "7000000001" not in text and "who" not in text


@pytest.mark.parametrize("token", ["wrong", None])
async def test_metrics_token_protects_the_endpoint(make_api: MakeApi, token: str | None) -> None:
    api = await make_api(metrics_token="scrape-secret", login=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await api.client.get("/-/metrics", headers=headers)
    assert r.status_code == 401
    assert "scrape-secret" not in r.text
    r = await api.client.get("/-/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200


async def test_stored_quarantined_and_profiles_counters(api: Api) -> None:
    before = samples(await scrape(api))
    order = {
        "client": {"customId": "buyer-1"},
        "orderId": "o-1",
        "eventSalt": "o-1",
        "recordedAt": "2024-03-05T10:00:00Z",
        "products": [
            {"sku": "A", "name": "A", "quantity": 1, "finalUnitPrice": {"amount": 1.0, "currency": "EUR"}},
            {"sku": "B", "name": "B", "quantity": 2, "finalUnitPrice": {"amount": 2.0, "currency": "EUR"}},
        ],
    }
    assert (await api.post("/v4/transactions", order)).status_code == 202
    assert (await api.post("/v4/transactions", order)).status_code == 202  # salted re-send: 3 overwrites
    lone = {"action": "a.b", "label": "l", "client": {"id": 5092159999}}
    assert (await api.send_event(lone)).status_code == 202  # quarantined, not stored
    assert (await api.send_event({"action": "a.b", "label": ""})).status_code == 400
    after = samples(await scrape(api))

    def delta(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("tracktion_events_stored_total", ("kind", "transaction")) == 3
    assert delta("tracktion_events_overwritten_total") == 3
    assert delta("tracktion_profiles_created_total") == 1
    assert delta("tracktion_quarantined_total", ("reason", "unknown clientId")) == 1
    assert delta("tracktion_quarantined_total", ("reason", "validation failed")) == 1
