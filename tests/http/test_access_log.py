"""Request log lines: JSON with request id, workspace, route template, status, duration; never secrets."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.api import API_KEY
from tests.support.http import MakeApi
from tracktion.observability.logs import JsonFormatter


async def test_access_log_lines_carry_fields_and_no_secrets(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = await make_api(access_log=True)
    caplog.set_level(logging.INFO, logger="tracktion.access")
    r = await api.send_event({"action": "a.b", "label": "l", "client": {"customId": "rex-owner"}})
    assert r.status_code == 202
    await api.client.get("/-/api/events?customId=rex-owner", headers=api.auth())
    records = [rec for rec in caplog.records if rec.name == "tracktion.access"]
    lines = [json.loads(JsonFormatter().format(rec)) for rec in records]
    write = next(line for line in lines if line["route"] == "/v4/events/custom")
    assert write["status"] == 202 and write["method"] == "POST" and write["workspaceId"] == 1
    assert write["requestId"] == r.headers["x-request-id"]
    assert isinstance(write["durationMs"], float)
    everything = "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    assert api.token is not None
    for secret in (API_KEY, api.token, "rex-owner"):
        assert secret not in everything
