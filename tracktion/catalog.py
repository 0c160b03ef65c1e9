"""The endpoint catalog (docs/api.md §4.1, `catalog.json`) as data.

Dedicated endpoints are rows here, not handlers: routing, validation and permissions read these rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tracktion.domain.models import TRANSACTION_ACTIONS


@dataclass(frozen=True, slots=True)
class CatalogRow:
    path: str
    batch_type: str | None  # None for ai-compat rows
    action: str | None  # None = taken from the body (custom)
    required_params: tuple[str, ...]
    typed_params: tuple[tuple[str, str], ...]  # (dotted path, JSON type) in catalog order
    permission: str
    default_label: str
    legacy: bool = False

    @property
    def is_custom(self) -> bool:
        return self.action is None

    @property
    def is_ai_compat(self) -> bool:
        return self.batch_type is None


@cache
def load_catalog() -> tuple[CatalogRow, ...]:
    text = resources.files("tracktion").joinpath("catalog.json").read_text("utf-8")
    return tuple(
        CatalogRow(
            path=r["path"],
            batch_type=r["batch_type"],
            action=r["action"],
            required_params=tuple(r["required_params"]),
            typed_params=tuple(r["typed_params"].items()),
            permission=r["permission"],
            default_label=r["default_label"],
            legacy=bool(r.get("legacy", False)),
        )
        for r in json.loads(text)
    )


@cache
def rows_by_path() -> dict[str, CatalogRow]:
    return {r.path: r for r in load_catalog()}


@cache
def rows_by_batch_type() -> dict[str, CatalogRow]:
    """Batch item `type` → row, including the hyphen aliases of the push types (§5.1)."""
    table = {r.batch_type: r for r in load_catalog() if r.batch_type is not None}
    for name in ("clicked", "viewed", "received", "cancelled"):
        table[f"push-{name}"] = table[f"push/{name}"]
    return table


def custom_row() -> CatalogRow:
    return rows_by_path()["/v4/events/custom"]


@cache
def dedicated_actions() -> frozenset[str]:
    return frozenset(r.action for r in load_catalog() if r.action is not None)


def kind_for_action(action: str) -> str:
    """§10: the definition kind depends only on the action name."""
    if action in TRANSACTION_ACTIONS:
        return "transaction"
    if action in dedicated_actions():
        return "dedicated"
    return "custom"
