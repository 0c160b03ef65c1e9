"""What every handler may use: settings, store, tokens, clock. Built once by `create_app`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tracktion.auth.jwt import SigningKey, TokenService
from tracktion.http.authn import Authenticator
from tracktion.live.changes import Changes
from tracktion.observability.metrics import Metrics
from tracktion.settings import Settings
from tracktion.storage.base import Store


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
    in_flight: int = 0  # requests being answered (streams included)
    stream_clients: int = 0
