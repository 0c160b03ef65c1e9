"""Request generators and the ledger the reliability tests check the store against.

Every request carries, in each event it would store, a param `rid` that no other event has: a single event
one rid, an atomic batch `<rid>.<i>` per item, a transaction its rid on the charge (through `metadata`) and
`<rid>.p<i>` on each `product.buy` (an unknown product key is stored as sent, §6.3). After the run the
stored events are grouped by `rid` and compared with what each request was answered (§1.5):

* answered 202 at least once → every event of the request stored, exactly once;
* answered only with errors → nothing of it stored;
* no answer (connection lost), or an error while the commit's outcome was unknown, on some send → all of it
  or nothing;
* never a `rid` twice (salted re-sends upsert), never an event nobody sent.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

SEED = 20240305
SALTED_TIME = "2024-03-05T10:15:30.250Z"  # salted UUIDs include the time: a fixed one makes re-sends upsert
_encode = msgspec.json.encode


@dataclass
class Logical:
    """One logical request, possibly sent several times (salted re-sends)."""

    kind: str  # single | salted | batch | poisoned | tx | salted-tx
    rid: str
    path: str
    body: bytes
    item_rids: list[str]  # the rid of every event the request stores when accepted
    # per send: "202", "400", "503", …, "none" (no answer), or "doubt" (an error answered while the commit's
    # outcome was unknown to the server: the database went away during it; docs/deploying.md)
    outcomes: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return "202" in self.outcomes

    @property
    def only_errors(self) -> bool:
        return bool(self.outcomes) and all(o not in ("202", "none", "doubt") for o in self.outcomes)

    @property
    def resendable(self) -> bool:
        return self.kind in ("salted", "salted-tx")


def _custom(rid: str, client: str, *, salt: bool = False, action: str = "rel.event") -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": {"customId": client},
        "action": action,
        "label": "reliability",
        "params": {"rid": rid, "n": 1, "tags": ["a", "b"]},
    }
    if salt:
        body["eventSalt"] = rid
        body["time"] = SALTED_TIME
    return body


def _transaction(rid: str, client: str, products: int, *, salt: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": {"customId": client},
        "orderId": rid,
        "value": {"amount": 10.5 * products, "currency": "EUR"},
        "products": [
            {
                "sku": f"SKU-{i}",
                "name": f"Product {i}",
                "quantity": 1 + i,
                "finalUnitPrice": {"amount": 10.5, "currency": "EUR"},
                "rid": f"{rid}.p{i}",
            }
            for i in range(products)
        ],
        "metadata": {"rid": rid},
    }
    if salt:
        body["eventSalt"] = rid
        body["recordedAt"] = SALTED_TIME
    return body


class Mix:
    """Draws the next request of a client: new ones of every kind, and re-sends of salted ones."""

    def __init__(self, rng: random.Random, prefix: str, clients: int = 3) -> None:
        self.rng = rng
        self.prefix = prefix
        self.clients = clients
        self.count = 0
        self.ledger: list[Logical] = []
        self.salted: list[Logical] = []

    def _rid(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"

    def next(self) -> Logical:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15 and self.salted:
            return rng.choice(self.salted)
        rid = self._rid()
        client = f"rel-client-{rng.randrange(self.clients)}"
        if roll < 0.45:
            logical = Logical("single", rid, "/v4/events/custom", _encode(_custom(rid, client)), [rid])
        elif roll < 0.57:
            body = _custom(rid, client, salt=True)
            logical = Logical("salted", rid, "/v4/events/custom", _encode(body), [rid])
        elif roll < 0.75:
            size = rng.randint(2, 20)
            items = [_custom(f"{rid}.{i}", client) for i in range(size)]
            for i in range(0, size, 3):  # dedicated items in the same atomic batch
                items[i]["type"] = "hit-timer"
                del items[i]["action"]
            logical = Logical(
                "batch", rid, "/v4/events/batch", _encode(items), [f"{rid}.{i}" for i in range(size)]
            )
        elif roll < 0.80:
            size = rng.randint(2, 10)
            items = [_custom(f"{rid}.{i}", client) for i in range(size)]
            del items[rng.randrange(size)]["label"]  # one invalid item: the atomic batch stores nothing (400)
            rids = [f"{rid}.{i}" for i in range(size)]
            logical = Logical("poisoned", rid, "/v4/events/batch", _encode(items), rids)
        else:
            salted = roll >= 0.92
            products = rng.randint(1, 5)
            body = _transaction(rid, client, products, salt=salted)
            rids = [rid, *(f"{rid}.p{i}" for i in range(products))]
            logical = Logical("salted-tx" if salted else "tx", rid, "/v4/transactions", _encode(body), rids)
        self.ledger.append(logical)
        if logical.resendable:
            self.salted.append(logical)
        return logical


@dataclass
class Verdict:
    logical_requests: int
    sends: int
    acknowledged_sends: int
    acknowledged_requests: int
    error_sends: int
    unanswered_sends: int
    events_stored: int
    events_verified: int
    losses: list[str]
    duplicates: list[str]
    half_stored: list[str]
    stored_after_error: list[str]
    phantoms: list[str]
    broken_transactions: list[str]

    @property
    def problems(self) -> dict[str, list[str]]:
        return {
            name: values[:20]
            for name, values in (
                ("losses", self.losses),
                ("duplicates", self.duplicates),
                ("half_stored", self.half_stored),
                ("stored_after_error", self.stored_after_error),
                ("phantoms", self.phantoms),
                ("broken_transactions", self.broken_transactions),
            )
            if values
        }

    def figures(self) -> dict[str, int]:
        return {
            "requests": self.logical_requests,
            "sends": self.sends,
            "acknowledged_sends": self.acknowledged_sends,
            "acknowledged_requests": self.acknowledged_requests,
            "error_sends": self.error_sends,
            "unanswered_sends": self.unanswered_sends,
            "events_stored": self.events_stored,
            "events_verified": self.events_verified,
            "losses": len(self.losses),
            "duplicates": len(self.duplicates),
            "half_stored": len(self.half_stored),
            "stored_after_error": len(self.stored_after_error),
            "phantoms": len(self.phantoms),
        }


def verify(ledger: list[Logical], events: list[dict[str, Any]]) -> Verdict:
    """Compare the stored events with what every request was answered (see the module docstring)."""
    by_rid: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_rid.setdefault(str(event["params"].get("rid")), []).append(event)
    known: set[str] = set()
    losses, duplicates, half, after_error, broken = [], [], [], [], []
    verified = 0
    outcomes: Counter[str] = Counter()
    for logical in ledger:
        outcomes.update("202" if o == "202" else "none" if o == "none" else "error" for o in logical.outcomes)
        known.update(logical.item_rids)
        counts = [len(by_rid.get(r, [])) for r in logical.item_rids]
        verified += sum(counts)
        if any(c > 1 for c in counts):
            duplicates.append(logical.rid)
        if len(set(counts)) > 1:
            half.append(f"{logical.rid} ({logical.kind}: {sum(c > 0 for c in counts)}/{len(counts)} stored)")
        if logical.acknowledged and not all(c >= 1 for c in counts):
            losses.append(f"{logical.rid} ({logical.kind}, {logical.outcomes})")
        if logical.only_errors and any(counts):
            after_error.append(f"{logical.rid} ({logical.kind}, {logical.outcomes})")
        if logical.kind in ("tx", "salted-tx") and all(c == 1 for c in counts):
            charge = by_rid[logical.rid][0]
            products = [by_rid[r][0]["uuid"] for r in logical.item_rids[1:]]
            if (
                charge["action"] != "transaction.charge"
                or charge["params"].get("productEventsUUIDs") != products
            ):
                broken.append(logical.rid)
    phantoms = sorted(r for r in by_rid if r not in known)
    return Verdict(
        logical_requests=len(ledger),
        sends=sum(len(x.outcomes) for x in ledger),
        acknowledged_sends=outcomes["202"],
        acknowledged_requests=sum(x.acknowledged for x in ledger),
        error_sends=outcomes["error"],
        unanswered_sends=outcomes["none"],
        events_stored=len(events),
        events_verified=verified,
        losses=losses,
        duplicates=duplicates,
        half_stored=half,
        stored_after_error=after_error,
        phantoms=phantoms,
        broken_transactions=broken,
    )
