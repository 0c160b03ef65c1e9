"""What every handler may use: settings, store, tokens, clock. Built once by `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tracktion.auth.jwt import SigningKey, TokenService
from tracktion.clock import now_ms
from tracktion.domain.lifecycle import LifecycleWorker, SuppressionCache
from tracktion.domain.models import WriteRequest, WriteResult
from tracktion.domain.ports import Store
from tracktion.http.authn import Authenticator
from tracktion.live.changes import Changes
from tracktion.observability.metrics import Metrics
from tracktion.relay.manager import Relay
from tracktion.settings import Settings


@dataclass
class Context:
    settings: Settings
    store: Store
    signing_key: SigningKey
    tokens: TokenService
    authn: Authenticator
    clock_ms: Callable[[], int] = field(default=now_ms)
    changes: Changes = field(default_factory=Changes)
    metrics: Metrics = field(default_factory=Metrics)
    relay: Relay | None = None  # §14: set by the app (also when this node delivers nothing)
    in_flight: int = 0  # requests being answered (streams included)
    suppressions: SuppressionCache | None = None  # §15.1; built by `create_app`
    lifecycle: LifecycleWorker | None = None  # §15 background deletions; run by the app
    stream_clients: int = 0

    async def write(self, request: WriteRequest) -> WriteResult:
        """The store's write, with what it committed counted in the metrics (after the commit only)."""
        if self.suppressions is not None:
            await self.suppressions.mark(request)
        result = await self.store.write(request)
        stats = result.stats
        if stats is not None:
            m = self.metrics
            for kind, n in stats.inserted_by_kind.items():
                m.stored.inc((("kind", kind),), n)
            if stats.overwritten:
                m.overwritten.inc((), stats.overwritten)
            for reason, n in stats.quarantined_by_reason.items():
                m.quarantined.inc((("reason", reason),), n)
            if stats.profiles_created:
                m.profiles.inc((), stats.profiles_created)
            if stats.quarantine_evicted:
                m.evicted.inc((), stats.quarantine_evicted)
            suppressed = stats.quarantined_by_reason.get("suppressed")
            if suppressed:
                m.suppressed.inc((), suppressed)
        return result
