"""The route table's machinery: exact paths (case-sensitive, trailing slash matters, query ignored) and a
few templates with one trailing path parameter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracktion.errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from tracktion.domain.models import Credential
    from tracktion.http.context import Context
    from tracktion.http.request import Request, Response

Handler = Callable[["Context", "Request", "Credential | None", Any], Awaitable["Response"]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    auth: str = "credential"  # "none" (public paths, logins) | "credential"
    permission: str | None = None
    # Which credential kinds may call it (§2.6): workspace credentials, profile tokens, or both.
    kinds: frozenset[str] = frozenset({"workspace"})
    body: bool = False  # POST with a JSON body: §1.2 media rules, §1.3 body rules
    write: bool = False  # a write endpoint: failures from §1.4 step 3 on are quarantined
    body_kind: str = "json"  # what the handler gets: "json" decoded value, or "raw" bytes


@dataclass(slots=True)
class Route:
    template: str
    methods: dict[str, Endpoint] = field(default_factory=dict)

    @property
    def allow(self) -> str:
        return ", ".join(sorted(self.methods))


class Router:
    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._templates: list[tuple[str, str, Route]] = []  # (prefix, param name, route)

    def add(self, method: str, template: str, endpoint: Endpoint) -> None:
        if "{" in template:
            prefix, _, rest = template.partition("{")
            name = rest.rstrip("}")
            for p, n, route in self._templates:
                if p == prefix and n == name:
                    route.methods[method] = endpoint
                    return
            route = Route(template, {method: endpoint})
            self._templates.append((prefix, name, route))
            return
        self._exact.setdefault(template, Route(template)).methods[method] = endpoint

    def match(self, method: str, path: str) -> tuple[Route, Endpoint, dict[str, str]]:
        route = self._exact.get(path)
        params: dict[str, str] = {}
        if route is None:
            for prefix, name, candidate in self._templates:
                if path.startswith(prefix):
                    value = path[len(prefix) :]
                    if value and "/" not in value:
                        route, params = candidate, {name: value}
                        break
        if route is None:
            raise NotFound("Not found")
        endpoint = route.methods.get(method)
        if endpoint is None:
            raise MethodNotAllowed(f"Method {method} not allowed", headers={"allow": route.allow})
        return route, endpoint, params

    def routes(self) -> list[Route]:
        return [*self._exact.values(), *(r for _, _, r in self._templates)]
