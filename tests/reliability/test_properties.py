"""Property tests (hypothesis, derandomized): on arbitrary JSON, the decoder and every validator either
produce a value or raise the contract's error, and the write endpoints answer a stored event (202/207) or
a 4xx with the Synerise body — never an exception, never a 500.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Api
from tracktion.catalog import load_catalog
from tracktion.errors import MalformedJson, PayloadTooLarge, ValidationFailed
from tracktion.schemas.ai_compat import validate_ai_compat
from tracktion.schemas.body import decode_json, gunzip_limited
from tracktion.schemas.envelope import validate_event
from tracktion.schemas.transaction import validate_transaction

RECEIVE_MS = 1_709_683_200_000
ROWS = load_catalog()
ERROR_KEYS = {"error", "message", "path", "status", "timestamp", "errors"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
# Bodies that look like the real thing, with any value in any place: reach the deeper rules.
keys = st.sampled_from(
    [
        "client",
        "label",
        "action",
        "time",
        "eventSalt",
        "params",
        "type",
        "id",
        "customId",
        "email",
        "uuid",
        "orderId",
        "products",
        "sku",
        "name",
        "quantity",
        "finalUnitPrice",
        "amount",
        "currency",
        "value",
        "recordedAt",
        "clientUUID",
        "correlationId",
        "item",
        "items",
        "position",
        "searchType",
        "EventTimestamp",
        "source",
        "lat",
        "lon",
        "paymentInfo",
        "method",
    ]
)
shaped = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=6)),
    max_leaves=25,
)
bodies = st.one_of(json_values, shaped)
FAST = settings(max_examples=300, derandomize=True, deadline=None)


@FAST
@given(st.binary(max_size=200) | bodies.map(msgspec.json.encode))
def test_decoder_returns_a_value_or_malformed_json(raw: bytes) -> None:
    with contextlib.suppress(MalformedJson):
        decode_json(raw)
    with contextlib.suppress(MalformedJson, PayloadTooLarge):
        gunzip_limited(raw)


@FAST
@given(bodies, st.sampled_from(ROWS), st.booleans())
def test_validators_return_an_event_or_validation_failed(body: Any, row: Any, profile: bool) -> None:
    try:
        if row.is_ai_compat:
            validate_ai_compat(body, row, RECEIVE_MS, client_optional=profile)
        else:
            validate_event(body, row, RECEIVE_MS, client_optional=profile)
    except ValidationFailed as exc:
        assert exc.errors and all(e.code < 2000 for e in exc.errors)
    try:
        validate_transaction(body, RECEIVE_MS)
    except ValidationFailed as exc:
        assert exc.errors


WRITE_PATHS = [
    "/v4/events/custom",
    "/v4/events/added-to-cart",
    "/v4/events/item-search-click",
    "/v4/events/ai-compat/recommendation.view",
    "/v4/events/batch",
    "/v4/events/batch?partial=true",
    "/v4/events/ai-compat/batch",
    "/v4/transactions",
    "/v4/transactions/batch?partial=true",
]


@pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, path=st.sampled_from(WRITE_PATHS))
async def test_write_endpoints_answer_stored_or_synerise_4xx(api: Api, body: Any, path: str) -> None:
    r = await api.post(path, content=msgspec.json.encode(body))
    assert r.status_code in (202, 207, 400, 403), (r.status_code, r.text)
    if r.status_code >= 400:
        error = r.json()
        assert set(error) == ERROR_KEYS and error["errors"], error
        assert error["status"] == r.status_code
