"""A real third-party client against a real server: `entirius-py-synerise-sdk` (PyPI, `synerise_sdk`), unchanged,
pointed at a `tracktion serve` process on each backend by its `subdomain` argument (its base URL).

Every call the SDK has is made: `get_workspace_token`, `add_profile_to_event` and `get_profile_create`. What
the SDK sends is what it sends: lowercase `content-type` and no `Api-Version` on its login, `Accept: */*`
and `Accept-Encoding: gzip, deflate` from `requests`, every unset field of its dataclasses as `null`.

Which calls must succeed and which must fail follows Synerise's documentation, as the contract adopts it:

* accepted — custom events with `customId`, `email`, `uuid` or an integer `client.id`; with `time`; with
  `eventSalt` (a re-send with the same salt and time replaces the event: one event, the re-sent label); the
  SDK's nulls for unset fields (`null` = absent, §1.3); a profile with the SDK's unknown `area_code` (ignored,
  named in `X-Tracktion-Ignored-Keys`, §9.7); identifiers with padding (trimmed, §3.2);
* rejected — the SDK's default `label=None` (Synerise: the label must be non-empty, §3.3 → 1002), `params` as a
  string (the SDK's annotation; Synerise: params is an object, §3.6 → 1004), `client.id` as a string (the
  SDK's annotation; §3.2 keeps `"5"` → 1004), a profile with an invalid e-mail (1005).

The SDK only returns `(message, status)`: the stored events and profiles are read back through tracktion's
read API, and the rejected calls' error codes through the quarantine (§11), which records each refused body.
The SDK's HTTP exchanges are observed by wrapping `requests.post` (the SDK's own code runs unchanged).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from synerise_sdk import SyneriseClient  # the `dev` extra: entirius-py-synerise-sdk
from synerise_sdk.dto.profile import ClientProfileEvent, Profile, ProfileEvent

from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.e2e

API_KEY = "tk_python-sdk-e2e-key-0123456789abcdef"
EVENT_OK = "Profile successfully added to event form.submit"  # the SDK's own words for any non-error answer
PROFILE_OK = "Profile successfully added/updated"
UUID = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def server(tmp_path: Path, make_database_url: Callable[[], str | None]) -> Iterator[ServeProcess]:
    """`tracktion serve` on the test's backend (`[sqlite]`, `[postgres]`: a fresh schema)."""
    s = ServeProcess(tmp_path / "data", make_database_url(), api_key=API_KEY, capture_output=True)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def sdk(server: ServeProcess) -> SyneriseClient:
    return SyneriseClient(subdomain=server.url, api_key=API_KEY)


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[requests.Response]:
    """Every response the SDK got (with `.request`, what it sent), in order."""
    seen: list[requests.Response] = []
    real_post = requests.post

    def post(*args: Any, **kwargs: Any) -> requests.Response:
        response = real_post(*args, **kwargs)
        seen.append(response)
        return response

    monkeypatch.setattr(requests, "post", post)
    return seen


def dto(fields: dict[str, Any]) -> dict[str, Any]:
    """The body the SDK's users build: its own dataclasses, `asdict()`."""
    rest = {k: v for k, v in fields.items() if k != "client"}
    body: dict[str, Any] = ProfileEvent(client=ClientProfileEvent(**fields["client"]), **rest).asdict()
    return body


def send(sdk: SyneriseClient, **fields: Any) -> tuple[str, int]:
    message, status = sdk.add_profile_to_event(dto(fields))
    return message, status


def events(server: ServeProcess, **params: Any) -> list[dict[str, Any]]:
    """Stored events (§13.2), by event time, oldest first."""
    return list(reversed(server.all_events(**params)))


def quarantined(server: ServeProcess) -> list[dict[str, Any]]:
    """Quarantine records (§11), oldest first."""
    return list(reversed(server.get("/-/api/quarantine")["items"]))


# -- get_workspace_token --------------------------------------------------------------------------------------


def test_workspace_login(
    server: ServeProcess, sdk: SyneriseClient, exchanges: list[requests.Response]
) -> None:
    token = sdk.get_workspace_token()
    claims = json.loads(_b64(token.split(".")[1]))
    assert (claims["kind"], claims["workspaceId"]) == ("workspace", 1)
    (login,) = exchanges
    sent = login.request.headers
    # What the SDK sends on its login, each handled as §1.2 says.
    assert "content-type" in list(sent)  # the header name in lower case, on the wire
    assert "Api-Version" not in sent  # missing = 4.4
    assert sent["Accept"] == "*/*"  # ignored
    assert (
        "gzip" in sent["Accept-Encoding"]
    )  # responses are never compressed (the contract names no encoding)
    assert login.status_code == 200
    assert login.headers["content-type"] == "application/json"
    assert "content-encoding" not in login.headers
    r = httpx.get(f"{server.url}/-/api/events", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200  # the token the SDK got works


def test_workspace_login_with_a_wrong_key(server: ServeProcess) -> None:
    # Synerise answers 401 to an unknown key; the SDK raises ConnectionError with the message.
    with pytest.raises(ConnectionError, match=r"^Invalid API key$"):
        SyneriseClient(subdomain=server.url, api_key="tk_not-a-key").get_workspace_token()


# -- add_profile_to_event: accepted ---------------------------------------------------------------------------


def test_custom_events_are_stored_as_sent(
    server: ServeProcess, sdk: SyneriseClient, exchanges: list[requests.Response]
) -> None:
    assert send(
        sdk,
        action="form.submit",
        label="Form submitted",
        client={"customId": "sdk-1"},
        params={"form": "contact", "fields": 3},  # the SDK annotates params as str; Synerise takes an object
    ) == (EVENT_OK, 202)
    assert send(
        sdk,
        action="form.submit",
        label="Form submitted",
        client={"email": " Ana@Example.org ", "uuid": UUID},  # padding trimmed (§3.2)
        time="2024-03-05T11:15:30+01:00",
    ) == (EVENT_OK, 202)
    (first,) = events(server, customId="sdk-1")
    (second,) = events(server, email="ana@example.org")
    assert first["action"] == "form.submit" and first["label"] == "Form submitted"
    assert first["client"]["customId"] == "sdk-1"
    assert {k: first["params"][k] for k in ("form", "fields")} == {"form": "contact", "fields": 3}
    assert second["client"] == {
        "id": second["client"]["id"],
        "uuid": UUID,
        "customId": None,
        "email": "Ana@Example.org",
    }
    assert second["time"] == "2024-03-05T10:15:30.000Z"
    assert second["params"]["snr-original-time"] == "2024-03-05T11:15:30+01:00"
    # The SDK's nulls (time, eventSalt, params, unused identifiers) are absences: nothing else was stored.
    assert set(first["params"]) == {
        "form",
        "fields",
        "eventUUID",
        "time",
        "eventCreateTime",
        "clientId",
        "uuid",
        "businessProfileId",
        "ip",
        "modifiedBy",
    }
    # What the SDK sent on the event post, and the answer it got: 202, empty, uncompressed.
    post = exchanges[-1]
    assert post.request.headers["Api-Version"] == "4.4"
    assert post.request.headers["Accept"] == "application/json"
    assert json.loads(post.request.body)["client"]["id"] is None  # absent fields go out as null
    assert (post.status_code, post.content, post.headers.get("content-encoding")) == (202, b"", None)


def test_an_integer_client_id_of_a_known_profile(server: ServeProcess, sdk: SyneriseClient) -> None:
    assert send(sdk, action="a.b", label="L", client={"customId": "sdk-2"})[1] == 202
    (stored,) = events(server)
    client_id = stored["client"]["id"]
    assert send(sdk, action="a.c", label="L", client={"id": client_id}) == (EVENT_OK, 202)
    assert [e["client"]["id"] for e in events(server)] == [client_id, client_id]


def test_salted_events_are_replaced_on_resend(server: ServeProcess, sdk: SyneriseClient) -> None:
    salted = {"action": "order.step", "client": {"customId": "sdk-3"}, "time": "2024-03-05T10:15:30.250Z"}
    assert send(sdk, label="first", eventSalt="step-0001", **salted) == (EVENT_OK, 202)
    assert send(sdk, label="resent", eventSalt="step-0001", **salted) == (EVENT_OK, 202)
    (event,) = events(server)  # §3.7: same salt, action, profile and time → one event
    assert event["label"] == "resent"
    assert "eventSalt" not in event["params"]  # never readable
    expected = uuid.uuid5(
        uuid.UUID("7b0fe651-8b45-5c83-84be-1b49d1448e59"),
        f"1|{event['client']['id']}|order.step|step-0001|1709633730250",
    )
    assert event["uuid"] == str(expected)
    # Without a salt, each send is an event of its own.
    assert send(sdk, label="unsalted", **salted)[1] == 202
    assert send(sdk, label="unsalted", **salted)[1] == 202
    assert [e["label"] for e in events(server)] == ["resent", "unsalted", "unsalted"]


# -- add_profile_to_event: rejected ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        # The SDK's default: `label=None` goes out as null, which is "Label is required" (§1.3, §3.3).
        ({"action": "a.b", "client": {"customId": "sdk-4"}}, (1002, "label", "Label is required")),
        # `params` typed as str in the SDK: a string is not an object (§3.6).
        (
            {"action": "a.b", "label": "L", "client": {"customId": "sdk-4"}, "params": '{"a": 1}'},
            (1004, "params", "Params must be an object"),
        ),
        # `client.id` typed as str in the SDK: "5" is not a JSON integer (§3.2).
        (
            {"action": "a.b", "label": "L", "client": {"id": "5"}},
            (1004, "client.id", "Client id must be a positive integer"),
        ),
        (
            {"action": "a.b", "label": "L", "client": {}},
            (1003, "client", "At least one client identifier required"),
        ),
        (
            {"action": "a.b", "label": "L", "client": {"customId": " \t "}},
            (1003, "client.customId", "Custom id cannot be empty"),
        ),
    ],
    ids=["label-default-none", "params-as-string", "client-id-as-string", "no-identifier", "blank-custom-id"],
)
def test_what_synerise_rejects_is_rejected(
    server: ServeProcess, sdk: SyneriseClient, fields: dict[str, Any], error: tuple[int, str, str]
) -> None:
    message = error[2]
    assert send(sdk, **fields) == (message, 400)
    assert events(server) == []
    (record,) = quarantined(server)
    assert record["reason"] == "validation failed"
    assert [(e["code"], e["field"], e["message"]) for e in record["errors"]] == [error]
    # What the SDK sent, nulls included; the API shows every `eventSalt` of a record as "***" (§11).
    assert record["item"] == {**dto(fields), "eventSalt": "***"}


def test_a_string_client_id_is_refused_even_for_a_known_profile(
    server: ServeProcess, sdk: SyneriseClient
) -> None:
    assert send(sdk, action="a.b", label="L", client={"customId": "sdk-5"})[1] == 202
    (stored,) = events(server)
    message, status = send(sdk, action="a.c", label="L", client={"id": str(stored["client"]["id"])})
    assert (message, status) == ("Client id must be a positive integer", 400)
    assert len(events(server)) == 1


# -- get_profile_create ---------------------------------------------------------------------------------------


def test_profile_create_and_update(
    server: ServeProcess, sdk: SyneriseClient, exchanges: list[requests.Response]
) -> None:
    profile = Profile(
        email="ana@example.org",
        phone="+48 600 100 200",
        area_code="48",
        agreements={"email": True},
        uuid=UUID,
    )
    assert sdk.get_profile_create(profile.asdict()) == (PROFILE_OK, 202)
    answer = exchanges[-1]
    assert (answer.status_code, answer.content) == (202, b"")
    assert answer.headers["X-Tracktion-Ignored-Keys"] == "area_code"  # the SDK's key tracktion does not know
    ana = server.get("/v4/clients/by-email/ana@example.org")
    assert (ana["uuid"], ana["phone"], ana["agreements"]["email"]) == (UUID, "+48 600 100 200", True)
    assert "area_code" not in ana

    # The same profile again with only the e-mail (padded): every other field goes out as null, and §9.6
    # makes a null native field a reset, so the phone and the agreements are cleared. That is the contract,
    # and what the SDK's nulls mean to Synerise's API as well.
    assert sdk.get_profile_create(Profile(email=" ANA@example.org ").asdict()) == (PROFILE_OK, 202)
    again = server.get("/v4/clients/by-email/ana@example.org")
    assert again["clientId"] == ana["clientId"]
    assert (again["phone"], again["agreements"]["email"], again["uuids"]) == (None, False, [UUID])
    assert exchanges[-1].headers["X-Tracktion-Ignored-Keys"] == "area_code"  # sent as null: still unknown


def test_profile_create_rejections(server: ServeProcess, sdk: SyneriseClient) -> None:
    # The SDK returns the `error` of the §1.6 body for anything that is not an empty answer.
    assert sdk.get_profile_create(Profile(email="not-an-email").asdict()) == ("Bad Request", 400)
    assert sdk.get_profile_create(Profile(email="a@example.org", uuid="x").asdict()) == ("Bad Request", 400)
    first, second = quarantined(server)
    assert [(e["code"], e["field"]) for e in first["errors"]] == [(1005, "email")]
    assert [(e["code"], e["field"]) for e in second["errors"]] == [(1005, "uuid")]
    assert (
        httpx.get(f"{server.url}/v4/clients/by-email/a@example.org", headers=_auth(server)).status_code == 404
    )


def _auth(server: ServeProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token()}"}


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
