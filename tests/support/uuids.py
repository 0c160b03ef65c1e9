"""docs/api.md §3.7 and §6.3 written out with the uuid module, independently of `tracktion.domain.event_ids`:
what the tests expect event and product UUIDs to be."""

from __future__ import annotations

import hashlib
import uuid


def v8_product(charge: uuid.UUID, index: int) -> str:
    """The product at `index` of an unsalted (v7) charge: the charge's 48 ms bits, version 8, the RFC variant,
    and the first 74 bits of SHA-1(charge bytes + str(index))."""
    digest = int.from_bytes(hashlib.sha1(charge.bytes + str(index).encode()).digest(), "big")
    bits74 = digest >> (160 - 74)
    rand_a, rand_b = bits74 >> 62, bits74 & ((1 << 62) - 1)
    return str(uuid.UUID(int=(charge.int >> 80) << 80 | 0x8 << 76 | rand_a << 64 | 0b10 << 62 | rand_b))


def product_uuids(charge_uuid: str, n: int) -> list[str]:
    """The `product.buy` UUIDs of a charge: uuid5(charge, str(i)) under a salted (v5) charge, v8 under an
    unsalted (v7) one."""
    charge = uuid.UUID(charge_uuid)
    if charge.version == 7:
        return [v8_product(charge, i) for i in range(n)]
    return [str(uuid.uuid5(charge, str(i))) for i in range(n)]


def is_arrival_v7(text: str) -> bool:
    """An unsalted event's UUID: version 7, RFC variant, canonical text."""
    parsed = uuid.UUID(text)
    return parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
