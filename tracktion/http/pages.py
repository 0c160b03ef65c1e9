"""One response page holds at most 16 MiB of JSON (contract §12), and the server never holds much more than
that to build it.

An event's params can be close to 1 MiB, so `limit=1000` could mean a gigabyte read, decoded and encoded in
one go (300 such events took the server from 178 MB to 881 MB). A page is therefore read from the store in
fetches sized from the largest item seen so far (the first fetch is small: nothing is known yet), each item
is encoded as it comes, and the page ends before the item that would pass `PAGE_BYTES`: with a cursor that
continues at that item, or, on endpoints without cursors, with fewer items. The first item is always
returned, however large.

Items are encoded one by one, so a page is `[` + items joined by `,` + `]`: the same bytes as encoding the
list at once. The one exception is kept too: `json_response` writes a whole body ASCII-escaped when some
value holds an escaped lone surrogate (msgspec cannot write it as UTF-8), so a page holding one is written
that way throughout.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

PAGE_BYTES = 16 * 1024 * 1024
FIRST_FETCH = 16  # rows of unknown size: 16 near-1-MiB events are still one page's worth

R = TypeVar("R")  # a row as the store returns it
K = TypeVar("K")  # a keyset position: fetches continue after it
H = TypeVar("H")  # what is kept of a row on the page, to make a position from

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _dumps_ascii(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def ascii_item(value: Any) -> bytes:
    """`value` as `json_response`'s fallback writes it. JSON text already encoded (bytes) and objects msgspec
    can write (structs, raw JSON) go through their JSON text, which round-trips exactly."""
    try:
        return _dumps_ascii(_decode(value if isinstance(value, bytes) else _encode(value)))
    except UnicodeEncodeError:
        return _dumps_ascii(value)


class Sizer:
    """How many rows to ask for next, so that one fetch holds about a page's worth of bytes."""

    __slots__ = ("biggest", "budget")

    def __init__(self, budget: int | None = None) -> None:
        self.budget = PAGE_BYTES if budget is None else budget
        self.biggest = 0

    def rows(self, wanted: int, room: int | None = None) -> int:
        """Rows to fetch of the `wanted` ones: as many of the largest seen as fit in `room` bytes (default
        the whole budget), and at least one."""
        if self.biggest == 0:
            return min(wanted, FIRST_FETCH)
        return max(1, min(wanted, (self.budget if room is None else room) // self.biggest))

    def saw(self, size: int) -> None:
        if size > self.biggest:
            self.biggest = size


@dataclass(slots=True)
class Page(Generic[H]):
    items: list[bytes]  # each item's JSON
    more: bool  # items follow the last one (the page ended at the limit or at the byte cap)
    last: H | None  # the handle of the last item's row (None on an empty page)

    def array(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


class _Builder:
    """Encoded items under the byte cap; switches the page to ASCII escapes if an item needs them."""

    def __init__(self, overhead: int) -> None:
        self.items: list[bytes] = []
        self.size = overhead + 2
        self.ascii = False
        self.cut = False  # the ASCII switch dropped items from the end: the page ends at the last kept one

    def add(self, value: Any) -> bool:
        """Append `value` unless it would pass the cap (the first item always goes in)."""
        if self.ascii:
            data = ascii_item(value)
        else:
            try:
                data = value if isinstance(value, bytes) else _encode(value)
            except UnicodeEncodeError:
                self._to_ascii()
                if self.cut:
                    return False
                data = ascii_item(value)
        if self.items and self.size + len(data) + 1 > PAGE_BYTES:
            return False
        self.items.append(data)
        self.size += len(data) + 1
        return True

    def _to_ascii(self) -> None:
        self.ascii = True
        self.items = [ascii_item(item) for item in self.items]
        self.size = sum(len(item) + 1 for item in self.items) + 2
        # Escapes make items longer: a page near the cap may now be past it.
        while len(self.items) > 1 and self.size > PAGE_BYTES:
            self.size -= len(self.items.pop()) + 1
            self.cut = True


async def _same(handle: Any) -> Any:
    return handle


async def collect(
    fetch: Callable[[int, K | None], Awaitable[Sequence[R]]],
    handle: Callable[[R], H],
    render: Callable[[Sequence[R]], Awaitable[Sequence[Any]]],
    limit: int,
    after: K | None = None,
    overhead: int = 0,
    position: Callable[[H], Awaitable[K | None]] = _same,
) -> Page[H]:
    """Up to `limit` items after `after`, within `PAGE_BYTES` (`overhead`: the bytes around the array).

    `fetch(n, after)` reads the next `n` rows after a keyset position. `handle(row)` is kept for each item,
    and `position(handle)` makes the keyset position after it: it is asked only where a fetch continues (the
    timeline's rows carry no `seq`, and looking it up costs a query). `render(rows)` makes what is encoded
    for the rows: JSON-ready values, or their JSON already encoded (one per row, in order)."""
    page = _Builder(overhead)
    handles: list[H] = []  # one per item on the page
    sizer = Sizer()
    at = after
    while True:
        remaining = limit - len(page.items)
        want = sizer.rows(remaining, PAGE_BYTES - page.size)
        # At the limit, one more row tells whether the page ends there or more items follow.
        asked = want + 1 if want == remaining else want
        rows = await fetch(asked, at)
        taken = rows[:want]
        for row, value in zip(taken, await render(taken), strict=True):
            if not page.add(value):
                return Page(page.items, True, handles[len(page.items) - 1])
            sizer.saw(len(page.items[-1]))
            handles.append(handle(row))
        last = handles[-1] if handles else None
        if len(rows) < asked:
            return Page(page.items, False, last)  # the store has no more
        if len(page.items) == limit:
            return Page(page.items, True, last)  # the extra row exists
        del rows, taken  # the next fetch's rows are not held beside these
        at = await position(handles[-1])
        if at is None:  # the last row is gone (deleted meanwhile): end the page where it is
            return Page(page.items, True, last)
