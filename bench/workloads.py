"""The workloads: what is sent, where, and how many events one request carries.

Bodies are templates: `@N@` becomes an identifier unique to the request, `@K@` a key cycling through a pool
(so events land on a fixed set of profiles that the first requests create). Batch bodies are static: without
`eventSalt` the server gives every event a fresh UUID, so resending the same body stores new events.

Endpoints that do not exist yet answer 404 to the probe request; the workload is then recorded as
"not available" and the run goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    method: str
    path: str  # `{clientId}` is filled in after the preload
    events_per_request: int
    template: bytes | None
    storage_ceiling: str | None  # "single" (1 row/txn) or "batch" (1000 rows/txn): the raw rate compared with
    unit: str = "events"  # what the target counts: "events", "transactions" or "reads"
    needs_preload: bool = False

    def with_path(self, path: str) -> Workload:
        return Workload(
            self.name,
            self.title,
            self.method,
            path,
            self.events_per_request,
            self.template,
            self.storage_ceiling,
            self.unit,
            self.needs_preload,
        )


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def custom_event(sent_time: str, *, key: str = "@K@", unique: str = "@N@") -> dict[str, Any]:
    """A typical SDK page-view style custom event (~350 bytes as JSON)."""
    return {
        "action": "page.visit",
        "label": "Page visited",
        "client": {"customId": f"bench-{key}"},
        "time": sent_time,
        "params": {
            "url": f"https://shop.example.org/products/{unique}",
            "title": "Blue ceramic mug, 350 ml",
            "referrer": "https://www.example.com/newsletter/spring",
            "campaign": "spring-sale",
            "device": {"type": "desktop", "os": "Linux", "browser": "Firefox"},
            "cartValue": 42.5,
            "loggedIn": True,
        },
    }


def dedicated_event(sent_time: str) -> dict[str, Any]:
    return {
        "label": "Timer hit",
        "client": {"customId": "bench-@K@"},
        "time": sent_time,
        "params": {
            "timer": "checkout",
            "elapsedMs": 1234,
            "url": "https://shop.example.org/checkout/@N@",
            "device": {"type": "mobile", "os": "Android"},
        },
    }


def batch_body(items: int, sent_time: str, pool: int) -> str:
    return _dumps(
        [
            custom_event(sent_time, key=str(i % pool), unique=f"b{i}") | {"type": "custom"}
            for i in range(items)
        ]
    )


def transaction_body(sent_time: str, products: int = 5) -> str:
    lines = []
    total = 0.0
    for i in range(products):
        price = 10.0 + 5 * i
        total += price * (i % 2 + 1)
        lines.append(
            {
                "sku": f"SKU-{1000 + i}",
                "name": f"Product {i}",
                "quantity": i % 2 + 1,
                "finalUnitPrice": {"amount": price, "currency": "EUR"},
                "regularPrice": {"amount": price + 2.0, "currency": "EUR"},
                "categories": ["kitchen", "mugs"],
                "url": f"https://shop.example.org/p/SKU-{1000 + i}",
            }
        )
    return _dumps(
        {
            "client": {"customId": "bench-@K@"},
            "orderId": "order-@N@",
            "recordedAt": sent_time,
            "source": "WEB_DESKTOP",
            "paymentInfo": {"method": "CARD"},
            "value": {"amount": total, "currency": "EUR"},
            "revenue": {"amount": round(total * 0.8, 2), "currency": "EUR"},
            "products": lines,
            "metadata": {"promotionCode": "BENCH"},
        }
    )


ALL = ("custom", "dedicated", "batch100", "batch1000", "transaction", "read")


def build(pool: int, read_limit: int = 100, now: datetime | None = None) -> dict[str, Workload]:
    """Every workload, in run order. `now` fixes the sent event time (a minute before the run)."""
    sent = _iso((now or datetime.now(UTC)) - timedelta(minutes=1))
    return {
        "custom": Workload(
            "custom",
            "single custom events",
            "POST",
            "/v4/events/custom",
            1,
            _dumps(custom_event(sent)).encode(),
            "single",
        ),
        "dedicated": Workload(
            "dedicated",
            "single dedicated events (hit-timer)",
            "POST",
            "/v4/events/hit-timer",
            1,
            _dumps(dedicated_event(sent)).encode(),
            "single",
        ),
        "batch100": Workload(
            "batch100",
            "100-item batches",
            "POST",
            "/v4/events/batch",
            100,
            batch_body(100, sent, pool).encode(),
            "batch",
        ),
        "batch1000": Workload(
            "batch1000",
            "1000-item batches",
            "POST",
            "/v4/events/batch",
            1000,
            batch_body(1000, sent, pool).encode(),
            "batch",
        ),
        "transaction": Workload(
            "transaction",
            "transactions with 5 products",
            "POST",
            "/v4/transactions",
            6,  # one transaction.charge + one product.buy per product
            transaction_body(sent).encode(),
            "single",
            unit="transactions",
        ),
        "read": Workload(
            "read",
            f"GET by-client, {read_limit} events of one profile",
            "GET",
            f"/v4/events/by-client/{{clientId}}?limit={read_limit}",
            read_limit,
            None,
            None,
            unit="reads",
            needs_preload=True,
        ),
    }


def parse_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise ValueError(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(ALL)}")
    return [n for n in ALL if n in names]  # run order is fixed
