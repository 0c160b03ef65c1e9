"""JSON Schema building blocks of the OpenAPI description (`GET /-/openapi.json`, assembled by
`tracktion.http.openapi`). Each body schema is built next to the validator of that body, from the constants
it uses; the answers are in `tracktion.schemas.responses`. Only plain dicts: nothing here validates."""

from __future__ import annotations

import re
from typing import Any

JsonSchema = dict[str, Any]

NON_EMPTY: JsonSchema = {"type": "string", "minLength": 1}


def anchored(pattern: re.Pattern[str]) -> str:
    """A Python pattern used with fullmatch (or already anchored) as a JSON Schema `pattern`."""
    text = pattern.pattern
    return text if text.startswith("^") else f"^(?:{text})$"


def nullable(schema: JsonSchema) -> JsonSchema:
    """§1.3: `null` equals absence for every named optional field."""
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> JsonSchema:
    """A schema of the document's components (`tracktion.schemas.responses.COMPONENTS`)."""
    return {"$ref": f"#/components/schemas/{name}"}


def without_nulls_on_required(schema: JsonSchema) -> JsonSchema:
    """Optional properties may be `null` (= absent, §1.3); required ones may not. Applied recursively."""
    props = schema.get("properties")
    if not props:
        return schema
    required = set(schema.get("required", []))
    out = dict(schema)
    out["properties"] = {
        key: without_nulls_on_required(sub) if key in required else nullable(without_nulls_on_required(sub))
        for key, sub in props.items()
    }
    return out
