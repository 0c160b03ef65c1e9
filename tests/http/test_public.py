"""Contract §13.1: `/-/health` and `/-/ready`."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.http import MakeApi, assert_error, entry


async def test_health(api: Api) -> None:
    r = await api.client.get("/-/health")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": "ok"}


async def test_ready(api: Api) -> None:
    r = await api.client.get("/-/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


async def test_not_ready_once_the_store_is_closed(make_api: MakeApi) -> None:
    api = await make_api()
    await api.app.ctx.store.close()
    r = await api.client.get("/-/ready")
    assert_error(r, 503, entry(5001, "", "Store is not accepting writes"))
    assert r.headers["retry-after"] == "1"
    assert (await api.client.get("/-/health")).status_code == 200  # liveness is not readiness
