import re

import pytest

from tracktion.auth.permissions import (
    ALL_PERMISSIONS,
    NON_CATALOG_PERMISSIONS,
    permission_for_event_path,
    sorted_permissions,
    unknown_permissions,
)
from tracktion.catalog import load_catalog


@pytest.mark.parametrize("row", load_catalog(), ids=lambda r: r.path)
def test_catalog_permission_follows_the_rule(row):
    assert row.permission == permission_for_event_path(row.path)
    assert row.permission in ALL_PERMISSIONS


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/v4/events/custom", "API_CUSTOM_EVENTS_CREATE"),
        ("/v4/events/added-to-cart", "API_ADDED_TO_CART_EVENTS_CREATE"),
        ("/v4/events/push/clicked", "API_PUSH_CLICKED_EVENTS_CREATE"),
        ("/v4/events/ai-compat/item.search.click", "API_AI_COMPAT_ITEM_SEARCH_CLICK_EVENTS_CREATE"),
        # The batch endpoints' fixed names happen to follow the rule too.
        ("/v4/events/batch", "API_BATCH_EVENTS_CREATE"),
        ("/v4/events/ai-compat/batch", "API_AI_COMPAT_BATCH_EVENTS_CREATE"),
    ],
)
def test_rule_examples(path, permission):
    assert permission_for_event_path(path) == permission


@pytest.mark.parametrize("path", ["/v4/events/", "/v4/events", "/v4/transactions", "custom", ""])
def test_rule_refuses_non_event_paths(path):
    with pytest.raises(ValueError):
        permission_for_event_path(path)


def test_all_permissions():
    catalog = {r.permission for r in load_catalog()}
    assert catalog | NON_CATALOG_PERMISSIONS == ALL_PERMISSIONS
    for name in (
        "API_BATCH_EVENTS_CREATE",
        "API_AI_COMPAT_BATCH_EVENTS_CREATE",
        "API_TRANSACTION_CREATE",
        "API_BATCH_TRANSACTION_CREATE",
        "API_EVENTS_READ",
        "API_CLIENT_READ",
        "API_BATCH_CLIENT_CREATE",
        "API_CLIENT_CREATE",
        "API_QUARANTINE_DELETE",
        "API_CLIENT_DELETE",
        "API_DESTINATIONS_READ",
        "API_DESTINATIONS_MANAGE",
    ):
        assert name in ALL_PERMISSIONS
    assert len(ALL_PERMISSIONS) == len(load_catalog()) + 12  # no catalog row reuses a fixed name
    assert all(re.fullmatch(r"API_[A-Z0-9_]+", n) for n in ALL_PERMISSIONS)


def test_sorted_permissions():
    names = sorted_permissions()
    assert names == sorted(ALL_PERMISSIONS)
    names.append("X")  # a fresh list each call: callers cannot corrupt the next answer
    assert "X" not in sorted_permissions()


def test_unknown_permissions():
    assert unknown_permissions(["API_EVENTS_READ", "NOPE", "api_events_read"]) == ["NOPE", "api_events_read"]
    assert unknown_permissions(sorted_permissions()) == []
