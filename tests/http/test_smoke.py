from __future__ import annotations

from tests.support.api import Api


async def test_quickstart_flow(api: Api) -> None:
    r = await api.send_event(
        {
            "action": "dog.bark",
            "label": "Dog barked",
            "client": {"customId": "rex-owner"},
            "time": "2024-03-05T11:15:30+01:00",
            "params": {"mood": "happy"},
        }
    )
    assert r.status_code == 202, r.text
    assert r.content == b""
    items = await api.events(customId="rex-owner")
    assert len(items) == 1
    ev = items[0]
    assert ev["time"] == "2024-03-05T10:15:30.000Z"
    assert ev["params"]["mood"] == "happy"
    assert ev["params"]["snr-original-time"] == "2024-03-05T11:15:30+01:00"
    r = await api.get(f"/v4/events/by-client/{ev['client']['id']}")
    assert r.status_code == 200
    assert r.json()[0]["uuid"] == ev["uuid"]
