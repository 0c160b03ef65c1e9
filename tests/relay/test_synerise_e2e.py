"""`synerise` destinations against a second real `tracktion serve`, through a fault-injecting proxy: every
event arrives with the right type, action, label, time, params and identifiers; faults are retried; a bad item
is isolated; a SIGKILL mid-delivery loses nothing; a replay overwrites instead of duplicating."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.faultproxy import Fault, FaultProxy
from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.e2e

SOURCE_KEY = "tk_relay-source-key-0123456789abcdef"
TARGET_KEY = "tk_relay-target-key-0123456789abcdef"
FAST_ENV = {
    "TRACKTION_RELAY_BACKOFF_BASE_SECONDS": "0.05",
    "TRACKTION_RELAY_BACKOFF_CAP_SECONDS": "0.5",
    "TRACKTION_RELAY_LEASE_SECONDS": "2",
}
SYSTEM = {
    "eventUUID",
    "time",
    "eventCreateTime",
    "clientId",
    "uuid",
    "businessProfileId",
    "ip",
    "modifiedBy",
    "snr-original-time",
}
BATCH = "/v4/events/batch"


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        time.sleep(0.1)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[ServeProcess, ServeProcess, FaultProxy]]:
    target = ServeProcess(tmp_path / "target", api_key=TARGET_KEY, log_path=tmp_path / "target.log")
    source = ServeProcess(
        tmp_path / "source", api_key=SOURCE_KEY, env=FAST_ENV, log_path=tmp_path / "source.log"
    )
    target.start()
    proxy = FaultProxy(target.url)
    source.start()
    try:
        yield source, target, proxy
    finally:
        source.stop()
        target.stop()
        proxy.close()


def _events(n: int, start: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        client = [
            {"customId": f"cust-{i % 5}"},
            {"email": f"p{i % 3}@example.org"},
            {"customId": f"both-{i % 2}", "email": f"b{i % 2}@example.org"},
        ][i % 3]
        if i % 4 == 0:
            out.append(
                {
                    "type": "logged-in",
                    "label": f"login {i}",
                    "client": client,
                    "time": "2024-03-05T10:15:30.250Z",
                    "params": {"n": i},
                }
            )
        else:
            out.append(
                {
                    "action": "door.open",
                    "label": f"door {i}",
                    "client": client,
                    "params": {"n": i, "nested": {"a": [1, 2.5, None]}},
                }
            )
    return out


def _status(source: ServeProcess, dest_id: str) -> dict[str, Any]:
    result: dict[str, Any] = source.get(f"/-/api/destinations/{dest_id}/status")
    return result


def _caught_up(source: ServeProcess, dest_id: str) -> dict[str, Any] | None:
    s = _status(source, dest_id)
    return s if s["lagEvents"] == 0 else None


def _key(e: dict[str, Any]) -> tuple[Any, ...]:
    params = {k: v for k, v in e["params"].items() if k not in SYSTEM}
    c = e["client"]
    return (
        e["action"],
        e["label"],
        e["time"],
        repr(sorted(params.items())),
        c["customId"],
        c["email"],
        c["uuid"],
        e["kind"],
    )


def test_synerise_delivery_with_faults_crash_and_replay(
    pair: tuple[ServeProcess, ServeProcess, FaultProxy],
) -> None:
    source, target, proxy = pair
    batches = {"n": 0}

    def fault(path: str, body: Any) -> Fault:
        if path != BATCH:
            return None
        if any(i.get("params", {}).get("poison") for i in body):
            return ("status", 400)
        batches["n"] += 1
        return {
            1: ("status", 429, {"Retry-After": "1"}),
            2: ("status", 500),
            3: ("drop",),
            4: ("slow", 0.5),
        }.get(batches["n"])

    proxy.fault = fault
    r = source.post(
        "/-/api/destinations",
        {
            "name": "downstream",
            "type": "synerise",
            "config": {"baseUrl": proxy.url, "apiKey": TARGET_KEY, "batchSize": 20},
            "start": "beginning",
        },
    )
    assert r.status_code == 201, r.text
    dest = r.json()
    assert dest["config"]["apiKey"] == "***"
    items = _events(60)
    items[13]["params"]["poison"] = True
    assert source.post(BATCH, items).status_code == 202
    tx = {
        "client": {"customId": "cust-1"},
        "orderId": "o-1",
        "recordedAt": "2024-03-05T10:00:00Z",
        "products": [
            {"sku": "s1", "name": "Sock", "quantity": 2, "finalUnitPrice": {"amount": 3.5, "currency": "PLN"}}
        ],
        "value": {"amount": 7, "currency": "PLN"},
    }
    assert source.post("/v4/transactions", tx).status_code == 202

    # SIGKILL while a batch is on its way (the proxy holds it), then start again: the cursor resumes.
    proxy.fault = lambda path, body: (
        ("slow", 1.0)
        if path == BATCH and not any(i.get("params", {}).get("poison") for i in body)
        else fault(path, body)
    )
    time.sleep(1.5)
    source.kill()
    proxy.fault = fault
    source.start()
    assert source.post(BATCH, _events(30, start=100)).status_code == 202

    wait_for(lambda: _caught_up(source, dest["id"]))
    src = source.all_events()
    poison = [e for e in src if e["params"].get("poison")]
    assert len(poison) == 1
    expected = sorted(_key(e) for e in src if not e["params"].get("poison"))
    got_events = target.all_events()
    assert sorted(_key(e) for e in got_events) == expected  # every one, exactly once, same content
    assert {e["kind"] for e in got_events} == {"custom", "dedicated", "transaction"}
    assert {e["endpoint"] for e in got_events if e["kind"] == "dedicated"} == {BATCH}

    status = _status(source, dest["id"])
    assert status["failed"] == 1 and status["state"] == "running"
    failures = source.get(f"/-/api/destinations/{dest['id']}/failures")["items"]
    assert [(f["eventUuid"], f["status"]) for f in failures] == [(poison[0]["uuid"], 400)]
    assert 429 in proxy.statuses(BATCH) and None in proxy.statuses(BATCH)

    # A replay of everything overwrites on the target: same events, new seqs, no duplicates.
    before = {e["uuid"]: e["seq"] for e in got_events}
    r = source.post(f"/-/api/destinations/{dest['id']}/replay", {})
    assert r.status_code == 202
    replay_id = r.json()["replayId"]
    done = wait_for(
        lambda: (
            (p := source.get(f"/-/api/destinations/{dest['id']}/replays/{replay_id}"))["state"] == "done"
            and p
        )
    )
    assert done["matched"] == len(src) and done["delivered"] == len(src) - 1 and done["failed"] == 1
    after = target.all_events()
    assert sorted(_key(e) for e in after) == expected
    assert {e["uuid"] for e in after} == set(before)
    assert all(e["seq"] > before[e["uuid"]] for e in after)

    metrics = httpx.get(f"{source.url}/-/metrics").text
    assert f'tracktion_relay_failed_total{{destination="{dest["id"]}"}}' in metrics
    lag = f'tracktion_relay_lag_events{{destination="{dest["id"]}"}} 0\n'
    wait_for(lambda: lag in httpx.get(f"{source.url}/-/metrics").text, timeout=10)


def test_an_erasure_deletes_the_profile_on_the_target(
    pair: tuple[ServeProcess, ServeProcess, FaultProxy],
) -> None:
    """§15.1: the synerise type finds the person on the target (customId, then email, then uuid) and deletes
    them with `DELETE /v4/clients/{targetClientId}`, retried like a delivery; the notice is then forgotten."""
    source, target, proxy = pair
    deletes = {"n": 0}

    def fault(path: str, body: Any) -> Fault:
        if path.startswith("/v4/clients/") and path[len("/v4/clients/") :].isdigit():
            deletes["n"] += 1
            return ("status", 503) if deletes["n"] == 1 else None
        return None

    proxy.fault = fault
    r = source.post(
        "/-/api/destinations",
        {"name": "downstream", "type": "synerise", "config": {"baseUrl": proxy.url, "apiKey": TARGET_KEY}},
    )
    assert r.status_code == 201, r.text
    dest = r.json()
    person = {"customId": "gdpr-1", "email": "gdpr@example.org"}
    items = [
        {"action": "door.open", "label": f"d{i}", "client": person if i % 2 else {"customId": "other"}}
        for i in range(6)
    ]
    assert source.post(BATCH, items).status_code == 202
    wait_for(lambda: len(target.all_events()) == 6)
    on_target = target.get("/v4/clients/by-customid/gdpr-1")["clientId"]

    r = source.post("/-/api/erasures", {"email": "GDPR@example.org"})
    assert r.status_code == 202, r.text

    def gone() -> bool:
        r = httpx.get(
            f"{target.url}/v4/clients/by-customid/gdpr-1",
            headers={"Authorization": f"Bearer {target.token()}"},
        )
        return r.status_code == 404

    wait_for(gone, timeout=30)
    assert deletes["n"] == 2  # the 503 was retried
    (receipt,) = target.get("/-/api/erasures")
    assert receipt["clientId"] == on_target
    wait_for(lambda: len(target.all_events()) == 3)  # the other person's events stay
    assert target.get("/v4/clients/by-customid/other")["customId"] == "other"
    s = _status(source, dest["id"])
    assert s["lastError"] is None or s["lastError"]["status"] == 503
