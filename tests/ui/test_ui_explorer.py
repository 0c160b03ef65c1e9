"""Issue 19 in a real browser: the live view loads by arrival, "copy as curl" sends the same thing again, and
nothing is cut at phone width."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.serve_process import ServeProcess
from tests.ui.browser import PHONE, Client, Tab, open_tab, overflowing

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips (or fails under CI)
    from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.e2e


def test_live_shows_the_latest_arrivals_after_a_backfill(tab: Tab, client: Client) -> None:
    """The bug: after importing events with 2020 times, a fresh Live page loaded the newest by event time and
    missed the import. Live is about arrival: load by seq, show when each row was received."""
    tag = uuid.uuid4().hex[:6]
    old = [
        {
            "type": "custom",
            "action": f"import.{tag}",
            "label": f"backfill {i}",
            "client": {"customId": "importer"},
            "time": f"2020-01-0{i + 1}T10:00:00Z",
        }
        for i in range(3)
    ]
    client.send(old, path="/v4/events/batch")
    page_items = client.http.get("/-/api/events", params={"order": "seq", "limit": 1}).json()["items"]
    if "receivedAt" not in page_items[0]:
        pytest.skip("order=seq and receivedAt are not on this branch yet (h-stats)")
    tab.sign_in()
    rows = tab.page.locator("#live-rows li")
    expect(rows.first).to_contain_text("backfill 2")
    for i in range(3):
        row = rows.nth(i)
        expect(row).to_contain_text(f"backfill {2 - i}")
        expect(row.locator(".c-time")).to_contain_text(f"2020-01-0{3 - i} 10:00:00")
        expect(row.locator(".received")).to_contain_text("recv ")  # received now, years after its time
    # The stream resumes after the highest seq: the next arrival comes on top, once.
    client.event(f"after.{tag}")
    expect(rows.first).to_contain_text(f"after.{tag}", timeout=2000)
    expect(tab.row(f"after.{tag}")).to_have_count(1)


def run_curl(command: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "TRACKTION_TOKEN": token}
    return subprocess.run(
        ["bash", "-c", command + " -s -o /dev/stderr -w '%{http_code}'"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_copy_as_curl_sends_the_event_and_the_rejected_request_again(tab: Tab, client: Client) -> None:
    action = f"curl.copy{uuid.uuid4().hex[:6]}"
    client.send(
        {
            "action": action,
            "label": "It's a 'quoted' label",
            "client": {"customId": "curl-1"},
            "time": "2024-03-05T11:15:30Z",
            "params": {"step": 2, "cart": {"value": 129.5}},
        }
    )
    tab.sign_in()
    page = tab.page
    tab.row(action).locator("a").click()
    page.click("#copy-curl")
    command = page.locator("#copy-curl").get_attribute("data-copied")
    assert command is not None and command == page.locator("#curl").text_content()
    token = str(client.http.headers["Authorization"]).removeprefix("Bearer ")
    assert token not in command and "$TRACKTION_TOKEN" in command  # the token is never copied
    done = run_curl(command, token)
    assert done.stdout == "202", done
    items = client.http.get("/-/api/events", params={"action": action}).json()["items"]
    assert len(items) == 2
    again, first = items if items[0]["seq"] > items[1]["seq"] else items[::-1]
    for key in ("action", "label", "time"):
        assert again[key] == first[key]
    assert again["client"]["customId"] == "curl-1"
    assert {k: again["params"][k] for k in ("step", "cart")} == {"step": 2, "cart": {"value": 129.5}}

    # A quarantined request: the same body, the same rejection.
    bad = f"bad {uuid.uuid4().hex[:6]}!"
    client.send({"action": bad, "label": "Broken", "client": {"customId": "curl-2"}}, status=400)
    tab.nav("quarantine")
    page.locator("#quarantine-rows li").filter(has_text="curl-2").first.locator("a").click()
    page.click("#copy-curl")
    command = page.locator("#copy-curl").get_attribute("data-copied")
    assert command is not None
    done = run_curl(command, token)
    assert done.stdout == "400" and "Action contains invalid characters" in done.stderr, done


def test_nothing_is_cut_at_phone_width(
    browser: Browser, server: ServeProcess, shots: Path, client: Client
) -> None:
    """The bugs: a rejected row showed "reje" and lost its action; the definition param table was cut off on
    the right. Every cell, badge and row part must fit its box and the screen."""
    long_action = f"checkout.payment.method{uuid.uuid4().hex[:8]}"
    client.send({"action": long_action, "label": "x" * 80, "client": {"customId": "c" * 40}})
    client.send(
        {
            "action": long_action,
            "label": "Params",
            "client": {"customId": "phone-1"},
            "params": {"aVeryLongParameterNameThatKeepsGoing": {"nested": [1, 2, 3]}, "n": 1},
        }
    )
    with open_tab(browser, server.url, shots, viewport=PHONE, color_scheme="dark") as tab:
        tab.sign_in()
        page = tab.page
        # Rejections reach the live tail through the stream only: sent once the page is live.
        client.send({"action": long_action, "label": None, "client": {"customId": "phone-1"}}, status=400)
        rejected = page.locator("#live-rows li.rejected").filter(has_text=long_action)
        expect(rejected.locator(".badge")).to_have_text("rejected 400")
        expect(rejected.locator(".c-action")).to_contain_text(long_action)
        assert overflowing(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        tab.nav("definitions")
        item = page.locator(".def").filter(has_text=long_action)
        item.locator("summary").click()
        expect(item.locator("tbody tr")).to_have_count(2)
        assert overflowing(page) == []
        tab.shot("definitions-phone-dark", full_page=False)
        tab.nav("quarantine")
        page.locator("#quarantine-rows li").filter(has_text="phone-1").first.locator("a").click()
        expect(page.locator("h1")).to_have_text("Rejected request")
        assert overflowing(page) == []
