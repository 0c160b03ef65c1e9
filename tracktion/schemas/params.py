"""`params` of a catalog row (docs/api.md §3.6, §4.2): required and typed paths compiled once per row into checks.

The catalog is data, so nothing here names an endpoint. A few param *names* carry extra rules wherever they are
typed (money objects, `source`, `searchType`, `lat`, `lon`, `position`); those come from §3.6 and §4.2.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from tracktion.catalog import CatalogRow
from tracktion.domain.fanout import CURRENCY
from tracktion.errors import ErrorEntry, rejected
from tracktion.schemas.openapi_shapes import JsonSchema, anchored, nullable, without_nulls_on_required

# §3.6: caller values for these keys are dropped; the server injects its own (§7.2) later.
SERVER_OWNED_PARAMS = frozenset(
    {
        "modifiedBy",
        "apiKey",
        "eventUUID",
        "ip",
        "time",
        "businessProfileId",
        "eventCreateTime",
        "clientId",
        "uuid",
        "snr-original-time",
    }
)
SOURCES = frozenset({"WEB_DESKTOP", "WEB_MOBILE", "MOBILE_APP", "POS", "MOBILE", "DESKTOP"})
SEARCH_TYPES = frozenset({"full-text-search", "autocomplete"})
# Ranges of the numeric params of §4.2 (their OpenAPI schemas below read them too).
LAT_RANGE = (-90, 90)
LON_RANGE = (-180, 180)
POSITION_MIN = 1

# JSON type name → accepted Python types. Exact `type()` membership, so `True` is never a number or an integer,
# and `integer` accepts only ints (the decoders turn `1.0` and `1e2` into floats).
_JSON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
    "array": frozenset({list}),
    "object": frozenset({dict}),
}
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_IRREGULAR_REQUIRED = {"items": "Items are required", "params": "Params are required"}

Extra = Callable[[Any], tuple[int, str] | None]  # value of the right type → (code, message) or None


@dataclass(frozen=True, slots=True)
class ParamCheck:
    """Every rule for one field; a field reports only its first failure (§3.8)."""

    parents: tuple[str, ...]  # keys from `params` down to the object holding the value
    key: str
    field: str  # body path, e.g. "params.finalUnitPrice.amount"; element checks append "[i]"
    each: bool  # path ended in "[]": the rule applies to every element of the array at `key`
    required: str | None  # message for 1002 when absent/null; None = optional
    types: frozenset[type] | None
    type_message: str
    extra: Extra | None


def humanize(name: str) -> str:
    """camelCase key → the phrase Synerise's SDK messages use: finalUnitPrice → "Final unit price"."""
    words = _WORDS.findall(name)
    if not words:
        return name
    out = [w if len(w) > 1 and w.isupper() else w.lower() for w in words]  # keep acronyms: clientUUID
    return out[0][0].upper() + out[0][1:] + "".join(" " + w for w in out[1:])


def _singular(name: str) -> str:
    # For array elements: "Categories" → "Category", "Products" → "Product".
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") else name + " element"


def _article(type_name: str) -> str:
    # "Params must be an object" (§3.6) and "Products must be an array" (§6.2) fix the article.
    return "an" if type_name[0] in "aeiou" else "a"


def _non_negative_amount(value: Any) -> tuple[int, str] | None:
    return (1006, "Amount must be greater than or equal to 0") if value < 0 else None


def _currency_format(value: Any) -> tuple[int, str] | None:
    return None if CURRENCY.fullmatch(value) else (1005, f"Invalid currency format({value})")


def _source(value: Any) -> tuple[int, str] | None:
    return None if value in SOURCES else (1007, f"Invalid source ({value})")


def _search_type(value: Any) -> tuple[int, str] | None:
    return None if value in SEARCH_TYPES else (1007, f"Invalid search type ({value})")


def _between(name: str, low: int, high: int) -> Extra:
    message = f"{name} must be between {low} and {high}"
    return lambda value: None if low <= value <= high else (1006, message)


def _position(value: Any) -> tuple[int, str] | None:
    return None if value >= POSITION_MIN else (1006, f"Position must be at least {POSITION_MIN}")


# Extra rules of named top-level params, applied after the type check passed (§3.6, §4.2).
_NAMED_EXTRAS: dict[str, Extra] = {
    "source": _source,
    "searchType": _search_type,
    "lat": _between("Lat", *LAT_RANGE),
    "lon": _between("Lon", *LON_RANGE),
    "position": _position,
}


def _split(path: str) -> tuple[tuple[str, ...], bool]:
    each = path.endswith("[]")
    keys = tuple((path[:-2] if each else path).split("."))
    return keys, each


def compile_checks(row: CatalogRow) -> tuple[ParamCheck, ...]:
    """The row's param checks in report order: required paths (catalog order), then the other typed paths.

    `params` itself and the custom row's `action` are envelope rules (§3.4, §3.6) and are left out here.
    """
    typed = dict(row.typed_params)
    money = {
        p
        for p, t in typed.items()
        if t == "object" and typed.get(p + ".amount") == "number" and typed.get(p + ".currency") == "string"
    }
    order = [p for p in row.required_params if p.startswith("params.")]
    order += [p for p in typed if p.startswith("params.") and p not in order]
    checks = []
    for path in order:
        keys, each = _split(path)
        keys = keys[1:]  # relative to the params object
        parent_path = path.rsplit(".", 1)[0]
        in_money = parent_path in money
        name = humanize(keys[-1])
        required = None
        if in_money:  # §3.6: both amount and currency are required in every money object
            required = f"{name} cannot be empty"
        elif path in row.required_params:
            required = _IRREGULAR_REQUIRED.get(keys[-1], f"{name} is required")
        type_name = typed.get(path)
        extra: Extra | None = None
        if in_money and keys[-1] == "amount":
            extra = _non_negative_amount
        elif in_money and keys[-1] == "currency":
            extra = _currency_format
        elif len(keys) == 1 and not each:
            extra = _NAMED_EXTRAS.get(keys[0])
        shown = _singular(name) if each else name
        checks.append(
            ParamCheck(
                parents=keys[:-1],
                key=keys[-1],
                field=path[:-2] if each else path,
                each=each,
                required=required,
                types=_JSON_TYPES[type_name] if type_name else None,
                type_message=f"{shown} must be {_article(type_name)} {type_name}" if type_name else "",
                extra=extra,
            )
        )
    return tuple(checks)


def check_params(params: dict[str, Any], checks: tuple[ParamCheck, ...], errors: list[ErrorEntry]) -> None:
    """Run a row's checks against a params object, appending one entry per failing field."""
    for check in checks:
        holder: Any = params
        for key in check.parents:  # a nested path is checked only if its parent is present and an object
            holder = holder.get(key)
            if type(holder) is not dict:
                break
        else:
            value = holder.get(check.key)
            if value is None:
                if check.required is not None:
                    errors.append(ErrorEntry(1002, check.field, check.required))
            elif check.each:
                if type(value) is list:
                    _check_elements(value, check, errors)
            elif check.types is not None and type(value) not in check.types:
                errors.append(ErrorEntry(1004, check.field, check.type_message, rejected(value)))
            elif check.extra is not None and (failure := check.extra(value)) is not None:
                errors.append(ErrorEntry(failure[0], check.field, failure[1], rejected(value)))


def _check_elements(values: list[Any], check: ParamCheck, errors: list[ErrorEntry]) -> None:
    # Every element is its own field (`params.categories[2]`). §3.6 types only "present non-null" values, so a
    # null element passes and is stored as sent.
    if check.types is None:
        return
    for index, value in enumerate(values):
        if value is not None and type(value) not in check.types:
            errors.append(ErrorEntry(1004, f"{check.field}[{index}]", check.type_message, rejected(value)))


def stored_params(params: dict[str, Any]) -> dict[str, Any]:
    """A new dict of the caller's params without the server-owned keys (§3.6); the input is left untouched."""
    if SERVER_OWNED_PARAMS.isdisjoint(params):
        return dict(params)  # the usual case: one C-level copy instead of a filtering comprehension
    return {k: v for k, v in params.items() if k not in SERVER_OWNED_PARAMS}


# -- the OpenAPI description of what these checks accept -----------------------------------------------------
MONEY: JsonSchema = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "pattern": anchored(CURRENCY)},
    },
}
# `_NAMED_EXTRAS` as schema keywords.
NAMED_PARAM_RULES: dict[str, JsonSchema] = {
    "source": {"enum": sorted(SOURCES)},
    "searchType": {"enum": sorted(SEARCH_TYPES)},
    "lat": {"minimum": LAT_RANGE[0], "maximum": LAT_RANGE[1]},
    "lon": {"minimum": LON_RANGE[0], "maximum": LON_RANGE[1]},
    "position": {"minimum": POSITION_MIN},
}


def typed_tree(required: list[str], typed: list[tuple[str, str]]) -> JsonSchema:
    """Nested object schema of dotted paths (`a.b`, `a[]` = each element) relative to one object.

    The same reading as `compile_checks`: an object path whose `.amount` is a number and `.currency` a
    string is a money object (§3.6); named rules apply to top-level keys only."""
    types = dict(typed)
    root: JsonSchema = {"type": "object", "properties": {}}

    def node(path: str) -> JsonSchema:
        holder = root
        keys = path.split(".")
        for key in keys[:-1]:
            holder = holder["properties"].setdefault(key, {"type": "object", "properties": {}})
            holder.setdefault("properties", {})
        return holder

    for path in [*required, *(p for p in types if p not in required)]:
        each = path.endswith("[]")
        key_path = path[:-2] if each else path
        holder = node(key_path)
        key = key_path.rsplit(".", 1)[-1]
        schema: JsonSchema = holder["properties"].setdefault(key, {})
        if each:
            element = types.get(path)
            schema.setdefault("type", "array")
            schema["items"] = nullable({"type": element}) if element else {}
        else:
            kind = types.get(path)
            if kind is not None:
                schema["type"] = kind
            if types.get(path + ".amount") == "number" and types.get(path + ".currency") == "string":
                money = copy.deepcopy(MONEY)
                money["properties"].update(schema.get("properties", {}))
                schema.update(money)
            if "." not in key_path and key in NAMED_PARAM_RULES:
                schema.update(NAMED_PARAM_RULES[key])
            if path in required and key not in holder.setdefault("required", []):
                holder["required"].append(key)
    return root


@cache
def params_schema(row: CatalogRow) -> JsonSchema:
    """The `params` object of an envelope sent to `row`'s endpoint."""
    required = [p.removeprefix("params.") for p in row.required_params if p.startswith("params.")]
    typed = [(p.removeprefix("params."), t) for p, t in row.typed_params if p.startswith("params.")]
    schema = without_nulls_on_required(typed_tree(required, typed))
    schema["description"] = (
        "Free-form; only the listed paths are checked (§3.6, §4.2). Server-owned keys are dropped."
    )
    return schema
