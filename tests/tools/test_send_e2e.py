"""`tracktion send` against a real server process: every kind of body, the outcome and explained errors."""

from __future__ import annotations

import json

import pytest

from tests.support.serve_process import clean_env
from tests.support.tools import API_KEY, Server, run

pytestmark = pytest.mark.e2e


def test_custom_event_with_typed_params(server: Server) -> None:
    r = run(
        [
            "send",
            "custom",
            "dog.bark",
            "--custom-id",
            "send-rex",
            "--label",
            "Dog barked",
            "--time",
            "2024-03-05T11:15:30+01:00",
            "--param",
            "mood=happy",
            "--param",
            "volume=7",
            "--param",
            "loud=true",
            "--param",
            'toy={"kind":"ball"}',
            "--param",
            "zip=007",
        ],
        server.env(),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("202 Accepted · POST /v4/events/custom")
    assert "stored" in r.stdout
    (ev,) = server.events(customId="send-rex", action="dog.bark")
    assert ev["label"] == "Dog barked"
    assert ev["time"] == "2024-03-05T10:15:30.000Z"
    params = ev["params"]
    assert (params["mood"], params["volume"], params["loud"], params["toy"], params["zip"]) == (
        "happy",
        7,
        True,
        {"kind": "ball"},
        "007",
    )


def test_flags_win_over_environment(server: Server) -> None:
    env = clean_env(TRACKTION_URL="http://127.0.0.1:1", TRACKTION_API_KEY="tk_wrong")
    r = run(
        [
            "send",
            "custom",
            "flag.test",
            "--custom-id",
            "send-flags",
            "--url",
            server.url,
            "--api-key",
            API_KEY,
        ],
        env,
    )
    assert r.returncode == 0, r.stderr
    assert len(server.events(customId="send-flags")) == 1


def test_dedicated_type_gets_the_catalog_label(server: Server) -> None:
    r = run(["send", "hit-timer", "--email", "timer@example.org", "--json"], server.env())
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == 202 and out["path"] == "/v4/events/hit-timer"
    (ev,) = server.events(email="timer@example.org")
    assert (ev["action"], ev["label"], ev["endpoint"]) == (
        "client.hitTimer",
        "Timer hit",
        "/v4/events/hit-timer",
    )


def test_push_alias_and_slash_type(server: Server) -> None:
    for type_name in ("push/clicked", "push-clicked"):
        r = run(["send", type_name, "--custom-id", "send-push"], server.env())
        assert r.returncode == 0, r.stderr
    events = server.events(customId="send-push")
    assert [e["action"] for e in events] == ["push.click", "push.click"]


def test_transaction_from_stdin(server: Server) -> None:
    order = {
        "client": {"customId": "send-buyer"},
        "orderId": "ord-cli-1",
        "value": {"amount": 30.0, "currency": "EUR"},
        "products": [
            {
                "sku": "MUG-1",
                "name": "Mug",
                "quantity": 2,
                "finalUnitPrice": {"amount": 15.0, "currency": "EUR"},
            }
        ],
    }
    r = run(
        ["send", "transaction", "--file", "-", "--time", "2024-03-05T10:00:00Z"],
        server.env(),
        input=json.dumps(order),
    )
    assert r.returncode == 0, r.stderr
    assert "POST /v4/transactions" in r.stdout
    events = server.events(customId="send-buyer")
    assert sorted(e["action"] for e in events) == ["product.buy", "transaction.charge"]
    assert {e["time"] for e in events} == {"2024-03-05T10:00:00.000Z"}


def test_transaction_from_file_with_flag_override(server: Server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "order.json"
    path.write_text(json.dumps({"client": {"customId": "nobody"}, "orderId": "ord-cli-2"}))
    r = run(["send", "transaction", "--file", str(path), "--custom-id", "send-buyer-2"], server.env())
    assert r.returncode == 0, r.stderr
    (charge,) = server.events(customId="send-buyer-2")
    assert charge["params"]["$orderID"] == "ord-cli-2"


def test_validation_error_is_explained(server: Server) -> None:
    r = run(["send", "custom", "dog.bark", "--email", "not-an-email", "--label", ""], server.env())
    assert r.returncode == 1
    assert r.stdout == ""
    err = r.stderr
    assert "400 Bad Request: Request validation failed (2 errors)" in err
    assert "request: POST /v4/events/custom" in err
    assert "client.email: Email format invalid (not-an-email)" in err
    assert "code 1005: wrong format" in err
    assert 'rejected value "not-an-email"' in err
    assert "label: Label is required [code 1003: empty value" in err
    assert "Traceback" not in err


def test_validation_error_as_json(server: Server) -> None:
    r = run(["send", "custom", "bad action!", "--custom-id", "x", "--json"], server.env())
    assert r.returncode == 1
    body = json.loads(r.stdout)
    assert body["status"] == 400
    assert body["body"]["errors"][0]["field"] == "action"
    assert body["body"]["errors"][0]["code"] == 1005


def test_lone_unknown_client_id_is_reported_as_quarantined(server: Server) -> None:
    r = run(
        ["send", "custom", "dog.bark", "--client-id", "5092159999", "--param", "mood=happy"], server.env()
    )
    assert r.returncode == 0, r.stderr
    assert "202 Accepted" in r.stdout
    assert "quarantined: unknown clientId" in r.stdout


def test_batch_partial_prints_each_refused_item(server: Server) -> None:
    items = [
        {"action": "batch.ok", "label": "ok", "client": {"customId": "send-batch"}},
        {"label": "no action", "client": {"customId": "send-batch"}},
        {"type": "hit-timer", "label": "t", "client": {"customId": "send-batch"}},
    ]
    r = run(["send", "batch", "--partial", "--file", "-"], server.env(), input=json.dumps(items))
    assert r.returncode == 0, r.stderr
    assert "207 Multi-Status" in r.stdout
    assert "accepted 2, quarantined 0, rejected 1" in r.stdout
    assert "[1] 400: [1].action: Action is required" in r.stdout
    assert len(server.events(customId="send-batch")) == 2


def test_atomic_batch_error_is_explained(server: Server) -> None:
    items = [{"label": "no action", "client": {"customId": "send-batch-2"}}]
    r = run(["send", "batch", "--file", "-"], server.env(), input=json.dumps(items))
    assert r.returncode == 1
    assert "[0].action: Action is required" in r.stderr


def test_bad_api_key_is_explained_with_a_hint(server: Server) -> None:
    r = run(["send", "custom", "x.y", "--custom-id", "a", "--api-key", "tk_nope"], server.env())
    assert r.returncode == 1
    assert "401 Unauthorized" in r.stderr
    assert "hint: check --api-key / TRACKTION_API_KEY" in r.stderr


def test_missing_api_key_and_usage_errors(server: Server) -> None:
    r = run(["send", "custom", "x.y", "--custom-id", "a"], clean_env(TRACKTION_URL=server.url))
    assert r.returncode == 1
    assert "an API key is needed" in r.stderr
    r = run(["send", "custom", "--custom-id", "a"], server.env())
    assert r.returncode == 1 and "needs an ACTION" in r.stderr
    r = run(["send", "hit-timer", "some.action", "--custom-id", "a"], server.env())
    assert r.returncode == 1 and "give no ACTION" in r.stderr
    r = run(["send", "no-such-type"], server.env())
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_dry_run_prints_the_request(server: Server) -> None:
    r = run(["send", "custom", "dry.run", "--custom-id", "d", "--param", "n=1", "--dry-run"], server.env())
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.split("\n", 1)
    assert head == "POST /v4/events/custom"
    assert json.loads(body) == {
        "client": {"customId": "d"},
        "action": "dry.run",
        "label": "Custom event",
        "params": {"n": 1},
    }
    assert server.events(customId="d") == []
