"""Profile data of `POST /v4/clients/batch` (docs/api.md §9.6): the pure merge rules and the read view.

A profile's data is one JSON object, stored sparse: only fields that have a value are kept.

    {"firstName": "Ana", "countryCode": "PL", "agreements": {"email": true},
     "attributes": {"loyalty": "gold"}, "tags": ["vip"]}

Merge rules (what one batch element does to it):
* a native field (`firstName`, `phone`, `birthDate`, `sex`, …) sent with a value replaces it; sent as `null` it is
  reset (removed); absent, it stays;
* `agreements`: each agreement sent replaces that one, `null` resets it; `"agreements": null` resets them all;
* `attributes`: merged key by key; an attribute sent as `null` is deleted; `"attributes": null` changes nothing
  (attributes are deleted one by one); Synerise's reserved names are dropped at validation;
* `tags`: the array sent replaces the profile's tags (duplicates dropped, order kept); `null` or `[]` clears them.

Identifiers (`clientId`, `customId`, `email`, `uuid`) are not part of the data: they follow §9.2–§9.4.
"""

from __future__ import annotations

import copy
from typing import Any

from tracktion.domain.models import ProfileIn

# Native fields: strings, validated at the edge (§9.6), stored as validated.
NATIVE_FIELDS: tuple[str, ...] = (
    "phone",
    "firstName",
    "lastName",
    "displayName",
    "company",
    "address",
    "city",
    "province",
    "zipCode",
    "countryCode",
    "avatarUrl",
    "birthDate",
    "sex",
)
AGREEMENTS: tuple[str, ...] = ("email", "sms", "push", "webPush", "bluetooth", "rfid", "wifi")

# Synerise's reserved attribute names: "Some attributes are reserved and cannot be sent. If you send them, they
# are ignored." Verbatim from the `attributes` description of `Synerise/php-sdk:lib/V4/Models/
# CreateClientRequestBody.php` (the source §9.6 names). Compared exactly (case-sensitive), as listed.
RESERVED_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "email",
        "clientId",
        "phone",
        "customId",
        "uuid",
        "firstName",
        "lastName",
        "displayName",
        "company",
        "address",
        "city",
        "province",
        "zipCode",
        "countryCode",
        "birthDate",
        "sex",
        "avatarUrl",
        "anonymous",
        "agreements",
        "tags",
        "businessProfileId",
        "time",
        "ip",
        "source",
        "newsletter_agreement",
        "custom_identify",
        "firstname",
        "lastname",
        "created",
        "updated",
        "last_activity_date",
        "birthdate",
        "external_avatar_url",
        "displayname",
        "receive_smses",
        "receive_push_messages",
        "receive_webpush_messages",
        "receive_btooth_messages",
        "receive_rfid_messages",
        "receive_wifi_messages",
        "confirmation_hash",
        "ownerId",
        "anonymous_type",
        "country_id",
        "geo_loc_city",
        "geo_loc_country",
        "geo_loc_as",
        "geo_loc_country_code",
        "geo_loc_isp",
        "geo_loc_lat",
        "geo_loc_lon",
        "geo_loc_org",
        "geo_loc_query",
        "geo_loc_region",
        "geo_loc_region_name",
        "geo_loc_status",
        "geo_loc_timezone",
        "geo_loc_zip",
        "club_card_id",
        "type",
        "confirmed",
        "facebookId",
        "status",
    }
)


def merge(data: dict[str, Any], update: ProfileIn) -> dict[str, Any]:
    """The profile data after `update` (a new object; `data` is not changed)."""
    out = copy.deepcopy(data)
    for name, value in update.native.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    _merge_map(out, "agreements", update.agreements)
    _merge_map(out, "attributes", update.attributes)
    if update.tags is not None:
        if update.tags:
            out["tags"] = list(dict.fromkeys(update.tags))
        else:
            out.pop("tags", None)
    return out


def _merge_map(out: dict[str, Any], key: str, changes: dict[str, Any]) -> None:
    if not changes:
        return
    current = dict(out.get(key) or {})
    for name, value in changes.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    if current:
        out[key] = current
    else:
        out.pop(key, None)


def view(data: dict[str, Any]) -> dict[str, Any]:
    """The phase-2 fields as `GET /v4/clients/…` returns them: every native field (`null` when unset), every
    agreement (`false` when unset: nothing was agreed), `attributes` and `tags` (empty when none)."""
    out: dict[str, Any] = {name: data.get(name) for name in NATIVE_FIELDS}
    agreed = data.get("agreements") or {}
    out["agreements"] = {name: bool(agreed.get(name, False)) for name in AGREEMENTS}
    out["attributes"] = dict(data.get("attributes") or {})
    out["tags"] = list(data.get("tags") or [])
    return out


__all__ = ["AGREEMENTS", "NATIVE_FIELDS", "RESERVED_ATTRIBUTES", "ProfileIn", "merge", "view"]
