"""Issue 19 in a real browser: the live view loads by arrival, "copy as curl" sends the same thing again, and
nothing is cut at phone width."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.serve_process import ServeProcess
from tests.ui.browser import PHONE, Client, Tab, open_tab, overflowing

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips (or fails under CI)
    from playwright.sync_api import Browser, Page, expect

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
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tab.base)
    tab.row(action).locator("a").click()
    page.click("#copy-curl")
    expect(page.locator("#copy-curl")).to_have_text("Copied")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command == page.locator("#copy-curl").get_attribute("data-copied")
    assert command == page.locator("#curl").text_content()
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

    # A dedicated event goes back to its own endpoint, without an action (the endpoint implies it).
    tab.nav("live")
    tab.row("Item added to cart").first.locator("a").click()
    page.click("#copy-curl")
    command = page.locator("#copy-curl").get_attribute("data-copied")
    assert command is not None and "/v4/events/added-to-cart'" in command and '"action"' not in command
    assert run_curl(command, token).stdout == "202"
    carts = client.http.get("/-/api/events", params={"action": "product.addToCart"}).json()["items"]
    assert len(carts) == 2 and carts[0]["params"]["finalUnitPrice"] == carts[1]["params"]["finalUnitPrice"]

    # A quarantined request: the same body, the same rejection.
    bad = f"bad {uuid.uuid4().hex[:6]}!"
    client.send({"action": bad, "label": "Broken", "client": {"customId": "curl-2"}}, status=400)
    tab.nav("quarantine")
    page.locator("#quarantine-rows li").filter(has_text="curl-2").first.locator("a").click()
    # Where the clipboard is refused, the command unfolds, selected, to copy by hand.
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); }")
    expect(page.locator("#curl")).to_be_hidden()
    page.click("#copy-curl")
    expect(page.locator("#curl")).to_be_visible()
    assert page.evaluate("getSelection().toString()") == page.locator("#curl").text_content()
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


def test_events_search_filters_on_the_server_and_pages_with_load_more(tab: Tab, client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    batch = [
        {
            "type": "custom",
            "action": f"search.page{tag}",
            "label": f"search {i}",
            "client": {"customId": f"searcher-{tag}"},
            "params": {"n": i, "mood": "happy" if i % 10 == 0 else "calm"},
        }
        for i in range(120)
    ]
    client.send(batch, path="/v4/events/batch")
    client.send(
        {
            "action": f"search.old{tag}",
            "label": "From 2021",
            "client": {"customId": "x"},
            "time": "2021-05-05T10:00:00Z",
        }
    )
    tab.sign_in("events")
    page = tab.page
    rows = page.locator("#search-rows li")
    page.fill("#e-actions", f"search.page{tag}")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(50)
    expect(page.locator("#search-status")).to_contain_text("50 events shown")
    tab.shot("events", full_page=False)
    page.click("#search-more")
    expect(rows).to_have_count(100)
    page.click("#search-more")
    expect(rows).to_have_count(120)
    expect(page.locator("#search-more")).to_be_hidden()
    expect(page.locator("#search-status")).to_contain_text("that is all")
    # Newest first by event time: the batch's last item on top, no duplicate across pages.
    labels = rows.locator(".c-label").all_inner_texts()
    assert labels[0] == "search 119" and len(set(labels)) == 120
    # An event opened from the results leads back to them, search kept.
    rows.nth(3).locator("a").click()
    expect(page.locator("h1")).to_have_text(f"Event search.page{tag}")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Events")
    page.click("text=← Events")
    expect(page.locator("#e-actions")).to_have_value(f"search.page{tag}")
    expect(rows).to_have_count(50)

    # Two actions at once, an identifier, an endpoint, a time range.
    page.fill("#e-actions", f"search.old{tag}, page.visit")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(4)
    page.select_option("#e-ident-kind", "email")
    page.fill("#e-ident", "ana@example.org")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(3)
    page.fill("#e-ident", "")
    page.fill("#e-from", "2021-05-01T00:00:00Z")
    page.fill("#e-to", "2021-05-31T00:00:00Z")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("From 2021")
    page.fill("#e-actions", "")
    page.fill("#e-from", "")
    page.fill("#e-to", "")
    page.fill("#e-endpoint", "/v4/events/added-to-cart")
    page.click("main form button[type=submit]")
    carts = client.http.get("/-/api/events", params={"endpoint": "/v4/events/added-to-cart"}).json()["items"]
    assert carts  # the seed's, and the copy-as-curl test's re-send when it ran first
    expect(rows).to_have_count(len(carts))
    expect(rows.filter(has_text="product.addToCart")).to_have_count(len(carts))
    page.fill("#e-endpoint", "")
    page.fill("#e-from", "not a time")
    page.click("main form button[type=submit]")
    expect(page.locator("#search-status")).to_contain_text("400")
    page.fill("#e-from", "")

    page.fill("#e-actions", f"search.page{tag}")
    page.fill("#e-params", 'mood:"happy"')
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(12)
    page.fill("#e-params", 'mood:"happy"\nn:30')
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("search 30")
    page.fill("#e-params", "mood:happy")  # not JSON: the server's 400
    page.click("main form button[type=submit]")
    expect(page.locator("#search-status")).to_contain_text("400")
    # Clear: every filter empty, the newest events of the whole store.
    page.click("main form button[type=reset]")
    expect(page.locator("#e-params")).to_have_value("")
    expect(page.locator("#search-status")).to_contain_text("50 events shown · more match")


def all_items(client: Client, path: str, **params: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {**params, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        answer = client.http.get(path, params=query).json()
        items += answer["items"]
        cursor = answer["nextCursor"]
        if cursor is None:
            return items


def legend(page: Page, chart: str) -> dict[str, int]:
    found: dict[str, int] = page.evaluate(
        """(sel) => Object.fromEntries([...document.querySelectorAll(sel + " .legend li")]
             .map((li) => [li.dataset.key, Number(li.dataset.total)]))""",
        chart,
    )
    return found


def test_charts_match_the_stats_api_and_the_stored_events(tab: Tab, client: Client) -> None:
    tab.sign_in("overview")
    page = tab.page
    events_chart = page.locator("#chart-events")
    expect(events_chart.locator(".legend li").first).to_be_visible()
    # The numbers drawn are the API's, for the window the chart says it shows.
    for chart, by in (("#chart-events", "action"), ("#chart-rejections", "reason")):
        figure = page.locator(chart)
        query = {
            "from": figure.get_attribute("data-from"),
            "to": figure.get_attribute("data-to"),
            "bucket": figure.get_attribute("data-bucket"),
            "by": by,
            "top": "10",
        }
        answer = client.http.get("/-/api/stats", params=query).json()
        assert legend(page, chart) == {s["key"]: s["total"] for s in answer["series"]}
        # Every bar segment is one (key, bucket, count) point of the answer, in the right bucket.
        drawn = page.evaluate(
            f"""[...document.querySelectorAll("{chart} rect[data-key]")]
                 .map((r) => [r.dataset.key, r.dataset.start, Number(r.dataset.count)])"""
        )
        points = {
            (s["key"], datetime.fromisoformat(at).timestamp(), n)
            for s in answer["series"]
            for at, n in s["points"]
        }
        assert {(k, datetime.fromisoformat(at).timestamp(), n) for k, at, n in drawn} == points
        assert len(drawn) == len(points)
    # … and they are the events actually stored (all received within the last day, in this test run).
    stored = all_items(client, "/-/api/events")
    counts: dict[str, int] = {}
    for stored_item in stored:
        action = str(stored_item["action"])
        counts[action] = counts.get(action, 0) + 1
    shown = legend(page, "#chart-events")
    assert sum(shown.values()) == len(stored)
    for key, total in shown.items():
        if key != "(other)":
            assert counts[key] == total, key
    assert sorted(counts.values(), reverse=True)[:10] == sorted(
        (v for k, v in shown.items() if k != "(other)"), reverse=True
    )
    rejected = all_items(client, "/-/api/quarantine")
    assert sum(legend(page, "#chart-rejections").values()) == len(rejected)
    tab.shot("overview")
    # The last hour: 60 one-minute buckets, same numbers again.
    page.click("button[data-range=hour]")
    expect(events_chart).to_have_attribute("data-bucket", "minute")
    assert sum(legend(page, "#chart-events").values()) == len(stored)

    # A legend's action opens its events.
    page.click("#chart-events .legend a:text-is('page.visit')")
    expect(page.locator("h1")).to_have_text("Events")
    expect(page.locator("#e-actions")).to_have_value("page.visit")
    expect(page.locator("#search-rows li")).to_have_count(counts["page.visit"])

    # Per action in Definitions.
    tab.nav("definitions")
    definition = page.locator(".def").filter(has_text="product.addToCart")
    definition.locator("summary").click()
    expect(definition.locator(".legend li[data-key='product.addToCart']")).to_have_attribute(
        "data-total", str(counts["product.addToCart"])
    )


def test_the_overview_redraws_every_30_seconds(tab: Tab, client: Client) -> None:
    tab.page.clock.install()  # the page's timers on a fake clock that starts now
    tab.sign_in("overview")
    page = tab.page
    total = page.locator("#chart-events .total")
    expect(total).to_have_attribute("data-total", re.compile(r"\d+"))
    before = int(total.get_attribute("data-total") or 0)
    client.event(f"redraw.{uuid.uuid4().hex[:6]}")
    page.clock.run_for(29_000)
    expect(total).to_have_attribute("data-total", str(before))  # not yet
    page.clock.run_for(2_000)
    expect(total).to_have_attribute("data-total", str(before + 1))


def test_charts_at_phone_width_in_dark_mode(
    browser: Browser, server: ServeProcess, shots: Path, client: Client
) -> None:
    with open_tab(browser, server.url, shots, viewport=PHONE, color_scheme="dark") as tab:
        tab.sign_in("overview")
        page = tab.page
        expect(page.locator("#chart-events .legend li").first).to_be_visible()
        assert overflowing(page, ".chart, .chart *:not(title)") == []
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The palette follows the dark scheme: bars are not the light theme's colours.
        fill = page.evaluate("getComputedStyle(document.querySelector('#chart-events rect.s0')).fill")
        assert fill == "rgb(122, 166, 216)"
        tab.shot("overview-phone-dark", full_page=False)


def test_profiles_newest_first_with_a_prefix_search(tab: Tab, client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        client.send({"action": "signup", "label": "Signup", "client": {"customId": f"pf-{tag}-{i}"}})
    tab.sign_in("profile")
    page = tab.page
    rows = page.locator("#profile-rows li")
    expect(rows.first).to_contain_text(f"pf-{tag}-2")  # the newest profile first
    expect(rows.nth(1)).to_contain_text(f"pf-{tag}-1")
    page.fill("#p-prefix", f"pf-{tag}-1")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(1)
    page.fill("#p-prefix", "cust-10")
    page.click("main form button[type=submit]")
    expect(rows).to_have_count(1)
    tab.shot("profiles", full_page=False)
    rows.first.locator("a").click()
    expect(page.locator("h1")).to_contain_text("Profile")
    expect(page.locator("#timeline-rows li").filter(has_text="newsletter.signup")).to_have_count(1)
