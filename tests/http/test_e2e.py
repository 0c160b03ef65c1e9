"""End to end: the real `tracktion serve` process over TCP (README quickstart) and its first-start banner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.e2e

KEY_LINE = re.compile(r"^\s*API key\s+(tk_[A-Za-z0-9_-]{43})\s*$", re.MULTILINE)


@contextmanager
def serve(data_dir: Path, bootstrap_key: str | None) -> Iterator[ServeProcess]:
    server = ServeProcess(data_dir, api_key=bootstrap_key, capture_output=True)
    server.start(timeout=30)
    try:
        yield server
    finally:
        server.stop()


def test_quickstart_against_the_real_server(tmp_path: Path) -> None:
    key = "tk_e2e-bootstrap-key-0123456789"
    with serve(tmp_path / "data", key) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        r = http.post("/uauth/v2/auth/login/profile", json={"apiKey": key})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        body = {
            "action": "dog.bark",
            "label": "Dog barked",
            "client": {"customId": "rex-owner"},
            "time": "2024-03-05T11:15:30+01:00",
            "params": {"mood": "happy", "volume": 7},
        }
        # No trusted proxy is configured: X-Forwarded-For is ignored, even from a local peer (uvicorn's own
        # proxy-header rewriting would have trusted 127.0.0.1 and stored 198.51.100.9).
        forwarded = {"X-Forwarded-For": "198.51.100.9"}
        r = http.post("/v4/events/custom", json=body, headers={**auth, **forwarded, "X-Request-Id": "e2e-1"})
        assert r.status_code == 202, r.text
        assert r.content == b""
        assert r.headers["x-request-id"] == "e2e-1"
        assert "content-type" not in r.headers
        r = http.get("/-/api/events", params={"customId": "rex-owner"}, headers=auth)
        assert r.status_code == 200
        (ev,) = r.json()["items"]
        assert ev["time"] == "2024-03-05T10:15:30.000Z"
        assert ev["params"]["mood"] == "happy"
        assert ev["params"]["volume"] == 7
        assert ev["params"]["ip"] == "127.0.0.1"
        assert ev["params"]["snr-original-time"] == "2024-03-05T11:15:30+01:00"
        r = http.get(f"/v4/events/by-client/{ev['client']['id']}", headers=auth)
        assert r.status_code == 200
        assert [e["uuid"] for e in r.json()] == [ev["uuid"]]
        # The README's step 5: a lone unknown clientId is accepted and quarantined.
        r = http.post(
            "/v4/events/custom",
            json={"action": "dog.bark", "label": "Dog barked", "client": {"id": 5092159999}},
            headers=auth,
        )
        assert r.status_code == 202
        (record,) = http.get("/-/api/quarantine", headers=auth).json()["items"]
        assert record["reason"] == "unknown clientId"
    assert server.returncode is not None


def test_generated_key_is_printed_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve(data, None) as server:
        pass
    keys = KEY_LINE.findall(server.output)
    assert len(keys) == 1, server.output
    assert "shown ONCE" in server.output
    secret = keys[0]
    with serve(data, None) as again, httpx.Client(base_url=again.url, timeout=10) as http:
        assert http.post("/uauth/v2/auth/login/profile", json={"apiKey": secret}).status_code == 200
    assert KEY_LINE.findall(again.output) == []
    assert secret not in again.output
    assert "workspaces   1 (default)" in again.output


def test_bootstrap_key_from_environment_is_never_printed(tmp_path: Path) -> None:
    key = "tk_env-supplied-secret-0123456789"
    with serve(tmp_path / "data", key) as server:
        pass
    assert key not in server.output
    assert KEY_LINE.findall(server.output) == []
