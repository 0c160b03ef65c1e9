"""The package's layers import one way (issue 16): http → schemas/auth → domain ← storage.

Read from the source with `ast` (nothing is imported), counting every import: top-level, inside functions
(lazy ones) and under `TYPE_CHECKING` alike, since each is a dependency someone has to know about.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tracktion"

# Which parts of `tracktion` each part may import (besides itself and the package's face, `__version__`).
# A part is a subpackage (`http`) or a top-level module (`errors`). The domain is pure and defines the
# ports (`domain/ports.py`) the storage backends implement, so storage points at the domain, never back;
# the HTTP layer and the CLI tools are written against those ports and never import a backend. Only the
# composition roots (`app` builds the server, `cli` the commands) see everything.
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "clock": frozenset(),
    "settings": frozenset(),
    # The data dir's and store files' modes (§13.8): standard library only; the composition roots call it.
    "datadir": frozenset(),
    "observability": frozenset(),
    "live": frozenset(),
    "domain": frozenset({"errors"}),
    "catalog": frozenset({"domain"}),
    "storage": frozenset({"domain", "errors"}),
    "schemas": frozenset({"domain", "errors", "catalog"}),
    "auth": frozenset({"domain", "errors", "catalog"}),
    "bootstrap": frozenset({"auth", "domain", "errors", "clock"}),
    "http": frozenset(
        {
            "schemas",
            "auth",
            "domain",
            "errors",
            "catalog",
            "bootstrap",
            "clock",
            "live",
            "observability",
            "settings",
            "relay",
        }
    ),
    # The relay (§14) delivers stored events: it reads the store through the domain's ports and renders
    # events with the schemas; the HTTP layer manages its destinations and the app starts it.
    "relay": frozenset({"domain", "schemas", "errors", "catalog", "settings", "observability", "live"}),
    "tools": frozenset({"schemas", "domain", "errors", "catalog", "clock", "settings"}),
    "app": frozenset(
        {
            "http",
            "storage",
            "auth",
            "bootstrap",
            "domain",
            "errors",
            "settings",
            "observability",
            "clock",
            "relay",
            "datadir",
        }
    ),
    "cli": frozenset(
        {
            "app",
            "datadir",
            "tools",
            "storage",
            "http",
            "auth",
            "bootstrap",
            "schemas",
            "domain",
            "errors",
            "settings",
            "observability",
            "clock",
            "catalog",
        }
    ),
    "__main__": frozenset({"cli"}),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """module → the `tracktion` modules it imports (absolute names; `from x import y` counts `x.y` when
    `x.y` is a module, else `x`)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                if target.split(".")[0] == "tracktion" and target != name:
                    found[name].add(target)
        found.setdefault(name, set())
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_part_has_a_rule() -> None:
    parts = {_part(m) for m in _imports()} - {"tracktion"}
    assert parts <= ALLOWED.keys(), f"parts without a rule in ALLOWED: {sorted(parts - ALLOWED.keys())}"


def test_imports_run_one_way() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for target in targets
        if _part(module) != _part(target)
        and target != "tracktion"
        and _part(target) not in ALLOWED.get(_part(module), frozenset())
    )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = _imports()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:  # `tracktion` itself, or a name that is not a module of ours
                continue
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("module", "target"),
    [("tracktion.domain.ingest", "tracktion.storage.sqlite"), ("tracktion.storage.sqlite", "tracktion.http")],
)
def test_a_wrong_import_would_be_caught(module: str, target: str) -> None:
    """The rule table itself refuses the arrows issue 16 removed (so the test above is not vacuous)."""
    assert _part(target) not in ALLOWED[_part(module)]
