"""docs/api.md against the code it describes: the route list (§1.1), the endpoint catalog (§4.1) and the
configuration table (§13.8), plus the README's configuration table. Pure text and data: no server is started.

The tables sit between HTML comment markers (`<!-- routes:start -->` … `<!-- routes:end -->`, likewise
`catalog`, `settings` and `unread`), so the checks read exactly what a user reads."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from tracktion.http.routes import build_router
from tracktion.settings import Settings

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
# The debugger's static files are covered by the one `GET /-/ui/` entry of the route list (§13.6).
UI_PREFIX = "/-/ui/"
ROUTE_RE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
VARIABLE_RE = re.compile(r"\bTRACKTION_[A-Z0-9_]+\b")


@pytest.fixture(scope="module")
def doc() -> str:
    return API_MD.read_text("utf-8")


def block(doc: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert doc.count(start) == 1 and doc.count(end) == 1, (
        f"docs/api.md needs exactly one {start} … {end} block"
    )
    return doc.split(start, 1)[1].split(end, 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of a Markdown table's body rows (header and separator dropped), pipes escaped as `\\|` kept."""
    rows = []
    for line in text.strip().splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return [r for r in rows[2:] if r]


def served_routes() -> set[tuple[str, str]]:
    """(method, template) of every route, admin routes included; the UI's files collapse to `GET /-/ui/`."""
    routes: set[tuple[str, str]] = set()
    for route in build_router(admin=True).routes():
        template = UI_PREFIX if route.template.startswith(UI_PREFIX) else route.template
        routes.update((method, template) for method in route.methods)
    return routes


def test_every_route_is_in_the_route_list(doc: str) -> None:
    listed = {(m, p) for m, p in ROUTE_RE.findall(block(doc, "routes"))}
    missing = sorted(served_routes() - listed)
    assert not missing, "routes served but missing from the route list of docs/api.md §1.1: " + ", ".join(
        f"{m} {p}" for m, p in missing
    )
    extra = sorted(listed - served_routes())
    assert not extra, "routes in the route list of docs/api.md §1.1 that are not served: " + ", ".join(
        f"{m} {p}" for m, p in extra
    )


def test_every_route_is_described_outside_the_list(doc: str) -> None:
    """Each route also appears, method and path, in the section that describes it (or its catalog row)."""
    routes_block = block(doc, "routes")
    body = doc.replace(routes_block, "")
    catalog_paths = {row[1].split("`")[1] for row in table_rows(block(doc, "catalog"))}
    undescribed = sorted(
        f"{m} {p}"
        for m, p in served_routes()
        if f"`{m} {p}`" not in body and f"{m} {p}" not in body and not (m == "POST" and p in catalog_paths)
    )
    assert not undescribed, "routes named only in the route list of docs/api.md: " + ", ".join(undescribed)


def test_catalog_table_matches_catalog_json(doc: str) -> None:
    rows = json.loads(resources.files("tracktion").joinpath("catalog.json").read_text("utf-8"))
    expected = {r["path"]: r for r in rows}
    table = table_rows(block(doc, "catalog"))
    documented = {}
    for cells in table:
        assert len(cells) == 7, f"catalog row with {len(cells)} cells instead of 7: {cells}"
        _, path_cell, batch_type, action, required, permission, label = cells
        path = path_cell.split("`")[1]
        documented[path] = cells
        row = expected.get(path)
        if row is None:
            continue
        want_batch = f"`{row['batch_type']}`" if row["batch_type"] else "—"
        want_action = f"`{row['action']}`" if row["action"] else "from `action`"
        want_required = ", ".join(f"`{p}`" for p in row["required_params"]) or "—"
        problems = [
            f"{name}: documented {got!r}, catalog.json says {want!r}"
            for name, got, want in (
                ("batch type", batch_type, want_batch),
                ("action", action, want_action),
                ("required", required, want_required),
                ("permission", permission, f"`{row['permission']}`"),
                ("default label", label, row["default_label"]),
                ("legacy", "(legacy)" in path_cell, bool(row.get("legacy"))),
            )
            if got != want
        ]
        assert not problems, f"docs/api.md §4.1 row {path}: " + "; ".join(problems)
    missing = sorted(set(expected) - set(documented))
    assert not missing, "catalog.json rows missing from docs/api.md §4.1: " + ", ".join(missing)
    extra = sorted(set(documented) - set(expected))
    assert not extra, "docs/api.md §4.1 rows that catalog.json does not have: " + ", ".join(extra)


def _settings_by_variable() -> dict[str, dataclasses.Field[object]]:
    return {f.metadata["env"]: f for f in dataclasses.fields(Settings)}


def test_configuration_table_names_every_setting(doc: str) -> None:
    settings = _settings_by_variable()
    table = {cells[0].strip("`"): cells for cells in table_rows(block(doc, "settings"))}
    missing = sorted(set(settings) - set(table))
    assert not missing, (
        "settings read by tracktion/settings.py but missing from docs/api.md §13.8: " + ", ".join(missing)
    )
    unknown = sorted(set(table) - set(settings))
    assert not unknown, "docs/api.md §13.8 lists variables tracktion/settings.py does not read: " + ", ".join(
        unknown
    )
    wrong = []
    for name, cells in table.items():
        default = settings[name].default
        shown = cells[1]
        if default is None:
            ok = shown == "unset"
        elif default is False:
            ok = shown == "off"
        elif default in ((), ""):
            ok = shown == "empty"
        else:
            ok = shown.strip("`").removeprefix("./") == str(default)
        if not ok:
            wrong.append(f"{name} (documented {shown}, default {default!r})")
    assert not wrong, "docs/api.md §13.8 shows wrong defaults: " + ", ".join(wrong)


def test_every_documented_variable_is_read(doc: str) -> None:
    """Any `TRACKTION_*` named anywhere in docs/api.md is a setting, unless §13.8 lists it as not read yet."""
    settings = set(_settings_by_variable())
    unread = set(VARIABLE_RE.findall(block(doc, "unread")))
    implemented = sorted(unread & settings)
    assert not implemented, (
        "docs/api.md §13.8 says these are not read yet, but tracktion/settings.py reads them "
        "(move them to the configuration table): " + ", ".join(implemented)
    )
    unknown = sorted(set(VARIABLE_RE.findall(doc)) - settings - unread)
    assert not unknown, "docs/api.md names variables tracktion/settings.py does not read: " + ", ".join(
        unknown
    )


def test_readme_configuration_names_every_setting() -> None:
    readme = (API_MD.parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = sorted(set(_settings_by_variable()) - set(VARIABLE_RE.findall(section)))
    assert not missing, "settings missing from the README's Configuration table: " + ", ".join(missing)
