"""The route table's machinery: exact paths (case-sensitive, trailing slash matters, query ignored) and a
few templates with one trailing path parameter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tracktion.errors import MethodNotAllowed, NotFound
from tracktion.schemas.openapi_shapes import JsonSchema

if TYPE_CHECKING:
    from tracktion.domain.models import Credential
    from tracktion.http.context import Context
    from tracktion.http.request import Request, Response

# Behind a credential (§2): the pipeline has authenticated the caller before the handler runs.
AuthenticatedHandler = Callable[["Context", "Request", "Credential", Any], Awaitable["Response"]]
# Public paths and logins (§2.2, §13.1), and the admin API (§13.7, whose token is no workspace credential).
UnauthenticatedHandler = Callable[["Context", "Request", Any], Awaitable["Response"]]


@dataclass(frozen=True, slots=True, eq=False)
class Doc:
    """What the OpenAPI description (`tracktion.http.openapi`) says of a route beyond its entry (credentials,
    permission, body, writes) and its handler's docstring. Given where the route is registered and read only
    when the document is first built; body schemas are built next to their validators (`tracktion.schemas`)."""

    responses: dict[str, JsonSchema] | None = None  # success answers by status; None: not described
    body: JsonSchema | None = None  # the request body; None on a route with a body: any JSON value
    query: tuple[JsonSchema, ...] = ()  # query parameters (their presence also means a possible 400)
    headers: tuple[JsonSchema, ...] = ()  # request headers the handler reads
    path: dict[str, JsonSchema] | None = None  # path parameters; by default any non-empty segment
    errors: tuple[int, ...] = ()  # error statuses the entry does not already imply
    summary: str | None = None  # by default the first line of the handler's docstring
    description: str | None = None
    deprecated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    """What every route entry says; the handler comes with the kind of entry. Each kind names itself in
    `auth` ("credential", "none", "admin") for readers of the table; the pipeline tells them apart by type,
    so that mypy knows which handler signature it calls."""

    body: bool = False  # POST with a JSON body: §1.2 media rules, §1.3 body rules
    body_kind: str = "json"  # what the handler gets: "json" decoded value, or "raw" bytes
    doc: Doc = Doc()


@dataclass(frozen=True, slots=True)
class Authenticated(_Entry):
    handler: AuthenticatedHandler
    permission: str | None = None
    # Other permissions that also open it (§2.5, `POST /v4/clients`: API_CLIENT_CREATE or API_BATCH_CLIENT_CREATE).
    also_permitted: frozenset[str] = frozenset()
    # Which credential kinds may call it (§2.6): workspace credentials, profile tokens, or both.
    kinds: frozenset[str] = frozenset({"workspace"})
    write: bool = False  # a write endpoint: failures from §1.4 step 3 on are quarantined
    auth: ClassVar[str] = "credential"


@dataclass(frozen=True, slots=True)
class Public(_Entry):
    handler: UnauthenticatedHandler
    auth: ClassVar[str] = "none"


@dataclass(frozen=True, slots=True)
class Admin(_Entry):
    handler: UnauthenticatedHandler
    auth: ClassVar[str] = "admin"


Endpoint = Authenticated | Public | Admin


@dataclass(slots=True)
class Route:
    template: str
    methods: dict[str, Endpoint] = field(default_factory=dict)

    @property
    def allow(self) -> str:
        return ", ".join(sorted(self.methods))


class Router:
    """Exact paths in a dict (the hot path is one lookup); templates like `/a/{id}/b` matched segment-wise,
    a parameter being one non-empty segment. Templates are tried in the order they were added."""

    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._templates: list[tuple[tuple[str, ...], Route]] = []

    def add(self, method: str, template: str, endpoint: Endpoint) -> None:
        if "{" not in template:
            self._exact.setdefault(template, Route(template)).methods[method] = endpoint
            return
        segments = tuple(template.split("/"))
        for known, route in self._templates:
            if known == segments:
                route.methods[method] = endpoint
                return
        self._templates.append((segments, Route(template, {method: endpoint})))

    def match(self, method: str, path: str) -> tuple[Route, Endpoint, dict[str, str]]:
        route = self._exact.get(path)
        params: dict[str, str] = {}
        if route is None:
            parts = path.split("/")
            for segments, candidate in self._templates:
                found = _bind(segments, parts)
                if found is not None:
                    route, params = candidate, found
                    break
        if route is None:
            raise NotFound("Not found")
        endpoint = route.methods.get(method)
        if endpoint is None:
            raise MethodNotAllowed(f"Method {method} not allowed", headers={"allow": route.allow})
        return route, endpoint, params

    def routes(self) -> list[Route]:
        return [*self._exact.values(), *(r for _, r in self._templates)]


def _bind(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(segments) != len(parts):
        return None
    params: dict[str, str] = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment.startswith("{"):
            if not part:
                return None
            params[segment[1:-1]] = part
        elif segment != part:
            return None
    return params
