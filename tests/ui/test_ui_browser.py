"""The `/-/ui/` debugger in a real browser: sign-in, the live tail, event details, the quarantine, profiles,
definitions, the test form, pause and filters, phone width, and resuming after a restart."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from pathlib import Path

import pytest

from tests.support.serve_process import ServeProcess
from tests.ui.browser import KEY, PHONE, SYSTEM_PARAMS, XSS_LABEL, Client, Tab, open_tab, server_for

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips (or fails under CI)
    from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(client: Client) -> Client:
    return client


# -- tests ---------------------------------------------------------------------------------------------


def test_sign_in_keeps_the_token_in_session_storage_only(tab: Tab) -> None:
    page = tab.page
    page.goto(f"{tab.base}/-/ui/")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("nav")).to_be_hidden()
    tab.shot("sign-in", full_page=False)
    page.fill("#api-key", "tk_wrong-key")
    page.click("form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("401")
    page.fill("#api-key", KEY)
    page.click("form button[type=submit]")
    tab.wait_live()
    expect(page.locator("h1")).to_have_text("Overview")  # the home view, with the charts
    expect(page.locator("#workspace")).to_have_text("workspace 1")
    token = page.evaluate("sessionStorage.getItem('tracktion.ui.token')")
    assert token and token.count(".") == 2
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    assert token not in page.url and KEY not in page.url
    # A reload in the same tab keeps the session; signing out forgets it.
    page.reload()
    tab.wait_live()
    page.click("#sign-out")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert page.evaluate("sessionStorage.getItem('tracktion.ui.token')") is None


def test_a_sent_event_appears_live_within_two_seconds_and_opens_its_details(tab: Tab, api: Client) -> None:
    tab.sign_in()
    page = tab.page
    action = f"checkout.step{uuid.uuid4().hex[:6]}"
    api.send(
        {
            "action": action,
            "label": "Checkout step reached",
            "client": {"customId": "cust-1042", "email": "nina@example.org"},
            "params": {"step": 2, "coupon": None, "cart": {"items": 3, "value": 129.5}},
        }
    )
    sent = time.monotonic()
    row = tab.row(action)
    expect(row).to_be_visible(timeout=2000)
    assert time.monotonic() - sent < 2.0
    expect(row).to_contain_text("Checkout step reached")
    expect(row).to_contain_text("cust-1042")
    expect(row).to_contain_text("/v4/events/custom")
    tab.shot("live", full_page=False)

    row.locator("a").focus()  # rows are real links: the keyboard opens them
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(f"Event {action}")
    details = page.locator("main")
    expect(details).to_contain_text("Checkout step reached")
    expect(details).to_contain_text("cust-1042")
    expect(details).to_contain_text("nina@example.org")
    params = {
        page.locator("tbody tr").nth(i).locator("td").first.inner_text()
        for i in range(page.locator("tbody tr").count())
    }
    for name in ("step", "coupon", "cart"):
        assert name in params  # caller params: no badge
    for name in SYSTEM_PARAMS:
        assert f"{name} system" in {p.replace("\n", " ") for p in params}, params
    expect(page.locator("tbody tr").filter(has_text="coupon").locator("td").nth(1)).to_have_text("null")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Live")  # opened from Live
    tab.shot("event")
    page.click("text=← Live events")
    expect(page.locator("h1")).to_have_text("Live events")
    expect(tab.row(action)).to_have_count(1)


def test_an_invalid_event_is_found_in_the_quarantine_with_its_error(tab: Tab, api: Client) -> None:
    tab.sign_in()
    page = tab.page
    customer = f"cust-{uuid.uuid4().hex[:6]}"
    r = api.send({"action": "bad action!", "label": "Broken", "client": {"customId": customer}}, status=400)
    message = r.json()["message"]
    assert message == "Action contains invalid characters (bad action!)"
    # The live tail shows the rejection as it happens (`include=quarantine`).
    rejected = page.locator("#live-rows li.rejected").filter(has_text=customer)
    expect(rejected).to_be_visible(timeout=2000)
    expect(rejected).to_contain_text(message)

    tab.nav("quarantine")
    expect(page.locator("h1")).to_have_text("Quarantine")
    record = page.locator("#quarantine-rows li").filter(has_text=customer)
    expect(record).to_contain_text(message)
    page.select_option("#q-reason", "validation failed")
    page.fill("#q-endpoint", "/v4/events/custom")
    page.click("form button[type=submit]")
    expect(record).to_be_visible()
    page.select_option("#q-reason", "malformed json")
    page.click("form button[type=submit]")
    expect(record).to_have_count(0)
    page.select_option("#q-reason", "")
    page.fill("#q-endpoint", "")
    page.click("form button[type=submit]")
    expect(record).to_be_visible()
    tab.shot("quarantine", full_page=False)

    record.locator("a").click()
    expect(page.locator("h1")).to_have_text("Rejected request")
    main = page.locator("main")
    expect(main).to_contain_text("validation failed")
    expect(main).to_contain_text("POST /v4/events/custom")
    error_row = page.locator("tbody tr").filter(has_text="1005")
    expect(error_row).to_contain_text("action")
    expect(error_row).to_contain_text(message)
    expect(page.locator("#as-sent")).to_contain_text('"bad action!"')
    expect(page.locator("#as-sent")).to_contain_text(customer)
    tab.shot("quarantine-record")


def test_html_in_a_label_is_rendered_as_text(tab: Tab, api: Client) -> None:
    tab.sign_in()
    page = tab.page
    action = f"xss.probe{uuid.uuid4().hex[:6]}"
    api.send(
        {
            "action": action,
            "label": XSS_LABEL,
            "client": {"customId": "<b>bold</b><script>alert(2)</script>"},
            "params": {"<img src=x onerror=alert(3)>": "<svg onload=alert(4)>"},
        }
    )
    row = tab.row(action)
    expect(row).to_be_visible(timeout=2000)
    expect(row.locator(".c-label")).to_have_text(XSS_LABEL)
    expect(row.locator(".c-who")).to_have_text("<b>bold</b><script>alert(2)</script>")
    row.locator("a").click()
    expect(page.locator("h1")).to_have_text(f"Event {action}")
    expect(page.get_by_text(XSS_LABEL, exact=True)).to_be_visible()
    expect(page.get_by_text("<svg onload=alert(4)>", exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # room for an onerror/onload handler to fire, were there an element
    assert page.locator("img, svg, b, main script").count() == 0
    assert tab.dialogs == []


def test_profile_definitions_and_test_form(tab: Tab, api: Client) -> None:
    tab.sign_in()
    page = tab.page
    # Profile: identifiers and the timeline, reached from an event's clientId.
    tab.row("Item added to cart").first.locator("a").click()
    page.click("main a[href^='#/profile/']")
    expect(page.locator("h1")).to_contain_text("Profile 7")
    main = page.locator("main")
    expect(main).to_contain_text("ana@example.org")
    expect(main).to_contain_text("ad33ed01-06f4-510e-9688-5157b52fbba4")  # uuid5 of the e-mail (§9.3)
    timeline = page.locator("#timeline-rows li")  # GET /-/api/events?clientId=
    expect(timeline.filter(has_text="product.addToCart")).to_have_count(1)
    expect(timeline.filter(has_text="page.visit")).to_have_count(3)
    tab.shot("profile")
    # Definitions: count, first/last seen and the param types.
    tab.nav("definitions")
    item = page.locator(".def").filter(has_text="product.addToCart")
    expect(item.locator("summary")).to_contain_text("dedicated")
    expect(item.locator("summary")).to_contain_text(re.compile(r"(?<!\d)1 event(?!s)"))
    item.locator("summary").click()
    expect(item.locator("tbody tr").filter(has_text="finalUnitPrice")).to_contain_text("object")
    expect(item.locator("tbody tr").filter(has_text="quantity")).to_contain_text("integer")
    expect(page.locator(".def").filter(has_text="page.visit").locator("summary")).to_contain_text("3 events")
    tab.shot("definitions")
    page.fill("#d-filter", "newsletter")
    expect(page.locator(".def")).to_have_count(1)

    # The test form: a 202 for a good event, the server's 400 for a bad one.
    tab.nav("send")
    action = f"form.test{uuid.uuid4().hex[:6]}"
    page.fill("#s-action", action)
    page.fill("#s-params", '{"source": "debugger", "n": 1}')
    page.get_by_role("button", name="Send event", exact=True).click()
    expect(page.locator("#send-status")).to_have_text("202 Accepted")
    expect(page.locator("#send-response")).to_have_text("(empty body)")
    tab.shot("send")
    page.fill("#s-label", "")
    page.get_by_role("button", name="Send event", exact=True).click()
    expect(page.locator("#send-status")).to_have_text("400 Bad Request")
    expect(page.locator("#send-response")).to_contain_text("Label is required")
    page.fill("#s-params", "{not json")
    page.get_by_role("button", name="Send event", exact=True).click()
    expect(page.locator("#send-result")).to_contain_text("Params are not valid JSON")
    # A raw body goes out exactly as typed, even when it is not JSON.
    page.fill("#s-params", "{}")
    page.fill("#s-label", "Raw")
    page.click("summary:has-text('Send a raw body')")
    page.click("#s-copy")
    expect(page.locator("#s-raw")).to_have_value(re.compile(f'"action": "{action}"'))
    page.fill("#s-raw", '{"action": "cut.short", ')
    page.get_by_role("button", name="Send raw body").click()
    expect(page.locator("#send-status")).to_have_text("400 Bad Request")
    expect(page.locator("#send-response")).to_contain_text("Malformed JSON")
    tab.nav("live")
    expect(tab.row(action).and_(page.locator(":not(.rejected)"))).to_have_count(1)
    expect(tab.row(action).and_(page.locator(".rejected"))).to_contain_text("Label is required")
    events = api.http.get("/-/api/events", params={"action": action}).json()["items"]
    assert events[0]["params"]["n"] == 1 and events[0]["client"]["customId"] == "debugger-test"


def test_phone_width_and_dark_mode(browser: Browser, server: ServeProcess, shots: Path) -> None:
    with open_tab(browser, server.url, shots, viewport=PHONE, color_scheme="dark") as tab:
        tab.sign_in()
        page = tab.page
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 20, 24)"
        expect(tab.row("Newsletter signup")).to_be_visible()
        # Nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        tab.shot("live-phone-dark", full_page=False)
        tab.row("Item added to cart").first.locator("a").click()
        expect(page.locator("h1")).to_have_text("Event product.addToCart")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_pause_filters_and_the_row_cap(tab: Tab, api: Client) -> None:
    tab.sign_in()
    page = tab.page
    page.click("#pause")
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    action = f"paused.event{uuid.uuid4().hex[:6]}"
    api.send({"action": action, "label": "While paused", "client": {"customId": "pause-1"}})
    expect(page.locator("#live-count")).to_contain_text("1 waiting", timeout=2000)
    expect(tab.row(action)).to_have_count(0)
    page.click("#pause")
    expect(tab.row(action)).to_have_count(1)

    page.fill("#f-action", action.upper())  # case-insensitive
    expect(page.locator("#live-rows li:visible")).to_have_count(1)
    page.fill("#f-action", "")
    page.fill("#f-ident", "PAUSE-1")
    expect(page.locator("#live-rows li:visible")).to_have_count(1)
    page.fill("#f-ident", "ana@example")
    expect(page.locator("#live-rows li:visible").first).to_contain_text("ana@example.org")
    page.fill("#f-ident", "")

    # The cap: 510 stored events, at most 500 rows kept.
    batch = [
        {"type": "custom", "action": "cap.fill", "label": f"cap {i}", "client": {"customId": "cap"}}
        for i in range(510)
    ]
    api.send(batch, path="/v4/events/batch")
    expect(tab.row("cap 509")).to_have_count(1, timeout=5000)
    expect(page.locator("#live-rows li")).to_have_count(500)
    expect(page.locator("#live-count")).to_contain_text("of 500 kept (at most 500)")


def test_the_live_view_resumes_after_a_server_restart_without_losing_events(
    browser: Browser, tmp_path: Path, shots: Path
) -> None:
    server = server_for(tmp_path / "data")
    server.start()
    try:
        api = Client(server.url)
        with open_tab(browser, server.url, shots) as tab:
            page = tab.page
            tab.sign_in()
            before = api.event("before.restart")
            expect(tab.row("before.restart")).to_have_count(1, timeout=2000)
            stream_requests: list[dict[str, str]] = []
            page.on(
                "request",
                lambda request: (
                    stream_requests.append(request.headers) if "/-/api/stream" in request.url else None
                ),
            )
            # Keep the page from reconnecting until the events below are stored, so only a replay
            # (Last-Event-ID) can bring them.
            page.route("**/-/api/stream*", lambda route: route.abort())
            server.stop()
            expect(page.locator("#stream-status")).to_have_attribute("data-state", "waiting")
            server.start()
            api.login()
            missed = [api.event(f"while.away{i}") for i in range(3)]
            unblocked_at = len(stream_requests)
            page.unroute("**/-/api/stream*")
            # "Reconnect now" rather than waiting out the backoff; the page's own retry may win the race.
            page.locator("#reconnect").dispatch_event("click")
            tab.wait_live()
            for event in missed:
                expect(tab.row(event["action"])).to_have_count(1, timeout=3000)
            expect(tab.row("before.restart")).to_have_count(1)  # no duplicate from the replay
            assert stream_requests[unblocked_at].get("last-event-id") == str(before["seq"])
            # And the resumed stream is live again.
            api.event("after.restart")
            expect(tab.row("after.restart")).to_have_count(1, timeout=2000)
            order = page.locator("#live-rows li .c-action").all_inner_texts()
            assert order[:5] == [
                "after.restart",
                "while.away2",
                "while.away1",
                "while.away0",
                "before.restart",
            ]
    finally:
        server.stop()
