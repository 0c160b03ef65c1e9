"""Contract §8.3: `GET /v4/server/time`, public, whatever `Authorization` says."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.http import Clock, assert_error, basic, bearer, entry
from tracktion.domain.timefmt import format_ms, parse_time_ms

PATH = "/v4/server/time"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("not-a-jwt"),
        basic("1", "tk_wrong-key"),
        {"Authorization": "Negotiate abc"},
        {"Authorization": ""},
    ],
    ids=["none", "bad-bearer", "bad-basic", "unknown-scheme", "empty"],
)
async def test_answers_the_clock_whatever_the_credentials(
    api: Api, clock: Clock, headers: dict[str, str]
) -> None:
    r = await api.client.get(PATH, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"serverTime": "2024-03-06T00:00:00.000Z"}
    assert "www-authenticate" not in r.headers


async def test_a_valid_token_changes_nothing(api: Api, clock: Clock) -> None:
    clock.advance(1234)
    r = await api.client.get(PATH, headers=api.auth())
    assert r.json() == {"serverTime": format_ms(clock.now_ms)}


async def test_is_the_real_clock(api: Api) -> None:
    import time

    before = int(time.time() * 1000)
    served = (await api.client.get(PATH)).json()["serverTime"]
    after = int(time.time() * 1000)
    assert before - 1 <= parse_time_ms(served) <= after + 1  # millisecond precision, truncated


async def test_api_version_is_still_checked(api: Api) -> None:
    # §1.2: every /v4/* path checks Api-Version; a public path only skips authentication (§1.4).
    r = await api.client.get(PATH, headers={"Api-Version": "5.0"})
    assert_error(r, 400, entry(1016, "Api-Version", "Unsupported Api-Version (5.0)", "5.0"))
    assert (await api.client.get(PATH, headers={"Api-Version": "4.1.2"})).status_code == 200


async def test_other_methods_are_405(api: Api) -> None:
    r = await api.client.post(PATH, json={})
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
