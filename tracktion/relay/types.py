"""What a destination type is: its config schema and a sender that delivers a list of events.

A fourth type is one module with a `validate` and an `open` (see `webhook` for the smallest one), added to
`TYPES` in `tracktion.relay.registry`. A sender also tells its target of an erasure (`erase`, §15.1).
Everything else (cursor, order, retries, backoff, splitting, failures, replays, erasure notices, leases,
metrics) is the worker's and the same for every type.

A sender reports one attempt's outcome by returning (every item acknowledged) or raising:
* `Retry`: a transient trouble (connect error, timeout, 408, 425, 429, 5xx): the same items are sent again
  after a backoff, or after `retry_after` when that is longer (§14.2);
* `Refused`: the target refuses our credentials (401/403): the destination is `failing`;
* `Rejected`: the target will never accept these items as they are (any other 4xx): the worker isolates the
  bad items (`indices` when the answer names them, else by halving the batch) and records each as a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tracktion.domain.relay import ErasureNotice
from tracktion.errors import ErrorEntry
from tracktion.relay.feed import Item

RESPONSE_MAX = 4096  # bytes of a target's answer kept in a failure record (§14.3)
SECRET_KEYS = frozenset({"apiKey", "secret", "password", "token"})  # write-only in every config (§14.1)
MASK = "***"


class DeliveryError(Exception):
    def __init__(self, message: str, status: int | None = None, response: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.response = response[:RESPONSE_MAX]


class Retry(DeliveryError):
    def __init__(
        self, message: str, status: int | None = None, response: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, status, response)
        self.retry_after = retry_after


class Refused(DeliveryError):
    pass


class Rejected(DeliveryError):
    def __init__(
        self,
        message: str,
        status: int | None = None,
        response: str = "",
        indices: Sequence[int] | None = None,
    ) -> None:
        super().__init__(message, status, response)
        self.indices = list(indices) if indices is not None else None


class Sender(Protocol):
    batch_size: int

    async def deliver(self, items: list[Item], delivery_id: str) -> None:
        """Deliver `items` (in this order) or raise a `DeliveryError`. `delivery_id` is the same on every
        retry of the same items (the webhook's `webhook-id`). Each item has its event (`item.event`) and
        its §13.2 JSON, rendered once for all the destinations that send it (`item.body`)."""
        ...

    async def erase(self, notice: ErasureNotice, delivery_id: str) -> None:
        """Tell the target that a person was erased (§15.1), or raise a `DeliveryError` (same rules)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DestinationType:
    name: str
    # config as sent → (config with defaults filled in, §1.6 errors with `config.` paths)
    validate: Callable[[dict[str, Any]], tuple[dict[str, Any], list[ErrorEntry]]]
    open: Callable[[dict[str, Any]], Sender]


def masked(config: Any) -> Any:
    """The config as answered: every secret, at any depth, shown as `***`."""
    if isinstance(config, dict):
        return {k: MASK if k in SECRET_KEYS and v is not None else masked(v) for k, v in config.items()}
    if isinstance(config, list):
        return [masked(v) for v in config]
    return config


def keep_secrets(new: Any, old: Any) -> Any:
    """A PATCHed config may send back `***` where it does not change a secret: keep the stored one."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {
            k: old[k] if k in SECRET_KEYS and v == MASK and k in old else keep_secrets(v, old.get(k))
            for k, v in new.items()
        }
    return new


def retry_after_seconds(value: str | None, now_s: float) -> float | None:
    """`Retry-After` as seconds or an HTTP date (§14.2); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_s)


def http_outcome(status: int, text: str, retry_after: str | None, now_s: float) -> DeliveryError | None:
    """§14.2's classification of an HTTP answer; None for a 2xx."""
    if 200 <= status < 300:
        return None
    message = f"HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return Retry(message, status, text, retry_after_seconds(retry_after, now_s))
    if status in (401, 403):
        return Refused(message, status, text)
    return Rejected(message, status, text)


# -- config checking helpers shared by the types ---------------------------------------------------------
def check_int(
    config: dict[str, Any], key: str, low: int, high: int, default: int, errors: list[ErrorEntry]
) -> int:
    from tracktion.errors import rejected

    value = config.get(key)
    if value is None:
        return default
    if type(value) is not int:
        errors.append(ErrorEntry(1004, f"config.{key}", f"{key} must be an integer", rejected(value)))
        return default
    if not low <= value <= high:
        errors.append(
            ErrorEntry(1006, f"config.{key}", f"{key} must be between {low} and {high}", rejected(value))
        )
    return value


def check_url(config: dict[str, Any], key: str, errors: list[ErrorEntry]) -> str:
    from urllib.parse import urlsplit

    from tracktion.errors import rejected

    value = config.get(key)
    if value is None:
        errors.append(ErrorEntry(1002, f"config.{key}", f"{key} is required", None))
        return ""
    if not isinstance(value, str):
        errors.append(ErrorEntry(1004, f"config.{key}", f"{key} must be a string", rejected(value)))
        return ""
    try:
        parts = urlsplit(value)
        ok = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and value.isprintable()
            and " " not in value
        )
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        ok = False
    if not ok:
        errors.append(
            ErrorEntry(1005, f"config.{key}", f"{key} must be an http or https URL", rejected(value))
        )
    return value


def check_string(
    config: dict[str, Any], key: str, errors: list[ErrorEntry], *, required: bool, min_len: int = 1
) -> str | None:
    from tracktion.errors import rejected

    value = config.get(key)
    if value is None:
        if required:
            errors.append(ErrorEntry(1002, f"config.{key}", f"{key} is required", None))
        return None
    if not isinstance(value, str):
        errors.append(
            ErrorEntry(
                1004,
                f"config.{key}",
                f"{key} must be a string",
                None if key in SECRET_KEYS else rejected(value),
            )
        )
        return None
    if len(value) < min_len:
        shown = None if key in SECRET_KEYS else rejected(value)
        code = 1003 if not value else 1006
        message = f"{key} must not be empty" if not value else f"{key} must be at least {min_len} characters"
        errors.append(ErrorEntry(code, f"config.{key}", message, shown))
    return value
