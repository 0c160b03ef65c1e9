"""The Destinations page (issue 17, docs/api.md §14): a destination added through the form delivers to a real
webhook receiver; the page shows its state, lag, last error and failures, pauses and resumes it, and replays the
failures. The secret typed in the form is never shown again, nor kept in the page."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest

from tests.support.relay import SECRET, WebhookReceiver
from tests.ui.browser import Client, Tab, overflowing

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips (or fails under CI)
    from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "timed out"
            return value
        time.sleep(0.1)


def test_destinations_page_adds_shows_failures_pauses_and_replays(tab: Tab, client: Client) -> None:
    receiver = WebhookReceiver()
    receiver.respond = lambda items: (400, {})  # the target refuses everything: each event becomes a failure
    try:
        stored = len(client.http.get("/-/api/events", params={"limit": 1000}).json()["items"])
        tab.sign_in("destinations")
        page = tab.page
        expect(page.locator("#destination-list")).to_contain_text("No destination yet")
        page.click("#d-create summary")
        # A bad config comes back with the field path of §1.6.
        page.fill("#d-name", "hook")
        page.fill("#d-config", json.dumps({"url": "ftp://example.org/x"}))
        page.click("#d-create button[type=submit]")
        expect(page.locator("#d-create-result")).to_contain_text("config.url")
        page.fill("#d-config", json.dumps({"url": receiver.url, "batchSize": 10}))
        page.fill("#d-secret", SECRET)
        page.select_option("#d-start", "beginning")
        page.click("#d-create button[type=submit]")
        expect(page.locator("#d-create-result")).to_contain_text("Added hook.")
        assert page.input_value("#d-secret") == ""
        (destination,) = client.http.get("/-/api/destinations").json()
        assert destination["config"]["secret"] == "***"
        path = f"/-/api/destinations/{destination['id']}"

        def settled() -> dict[str, Any] | None:
            status: dict[str, Any] = client.http.get(f"{path}/status").json()
            return status if status["lagEvents"] == 0 and status["failed"] == stored else None

        status = wait_for(settled)
        assert receiver.bad_signatures == 0 and len(receiver.requests) > 0  # signed with the typed secret
        page.click("text=Refresh")
        row = page.locator("#destination-list tbody tr").filter(has_text="hook")
        expect(row).to_contain_text("webhook")
        expect(row).to_contain_text("0 events behind")
        expect(row.locator("td").nth(5)).to_have_text(str(stored))  # failed
        expect(row.locator("td").nth(6)).to_contain_text("400")  # last error
        tab.shot("destinations", full_page=False)

        row.locator("a").click()
        expect(page.locator("h1")).to_have_text("Destination hook")
        expect(page.locator("#d-status")).to_contain_text(status["state"])
        expect(page.locator("#failures tbody tr")).to_have_count(stored)
        expect(page.locator("#failures tbody tr").first).to_contain_text("400")
        expect(page.locator("#d-config-shown")).to_contain_text('"secret": "***"')
        assert SECRET not in page.content()
        assert overflowing(page) == []
        tab.shot("destination", full_page=True)

        page.click("#d-toggle")
        expect(page.locator("#d-status .badge")).to_have_text("paused")
        assert client.http.get(f"{path}/status").json()["state"] == "paused"
        page.click("#d-toggle")
        expect(page.locator("#d-status .badge")).not_to_have_text("paused")

        # The receiver is fixed: replay only the failures; they are delivered and leave the list.
        receiver.respond = lambda items: (204, {})
        page.check("#r-only-failed")
        page.click("#replay-status >> xpath=.. >> button[type=submit]")
        expect(page.locator("#replay-status p")).to_have_attribute("data-state", "done", timeout=15000)
        expect(page.locator("#replay-status")).to_contain_text(f"{stored} of {stored} delivered, 0 failed")
        assert len(set(receiver.uuids())) == stored
        page.reload()
        expect(page.locator("#failures")).to_have_text("No failures.")

        # Edit (§14.1 PATCH): a bad config is refused with its field path; a good one is saved, the secret
        # shown as "***" is kept (the receiver still verifies every signature), and the filter narrows.
        page.click("#d-edit summary")
        page.fill("#e-config", json.dumps({"url": "ftp://example.org/x", "secret": "***"}))
        page.click("#d-edit button[type=submit]")
        expect(page.locator("#e-result")).to_contain_text("config.url")
        page.fill("#e-name", "hook2")
        page.fill("#e-config", json.dumps({"url": receiver.url, "batchSize": 5, "secret": "***"}))
        page.fill("#e-actions", "only.this")
        page.click("#d-edit button[type=submit]")
        expect(page.locator("h1")).to_have_text("Destination hook2")
        saved = client.http.get(path).json()
        assert {k: saved["config"][k] for k in ("url", "batchSize", "secret")} == {
            "url": receiver.url,
            "batchSize": 5,
            "secret": "***",
        }
        assert saved["filter"]["actions"] == ["only.this"]
        other = client.event("not.this")["uuid"]
        wanted = client.event("only.this")[
            "uuid"
        ]  # after `other` in seq order: once it is in, other was passed
        wait_for(lambda: wanted in receiver.uuids())
        assert other not in receiver.uuids() and receiver.bad_signatures == 0

        # Delete: the first click arms, the second deletes and goes back to the list.
        page.click("#d-delete")
        expect(page.locator("#d-delete")).to_contain_text("Click again")
        assert client.http.get(path).status_code == 200
        page.click("#d-delete")
        expect(page.locator("#destination-list")).to_contain_text("No destination yet")
        assert client.http.get(path).status_code == 404
    finally:
        receiver.close()
