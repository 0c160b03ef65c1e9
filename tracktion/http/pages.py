"""One response page holds at most 16 MiB of JSON (docs/api.md §12), and building it holds a bounded amount.

An event's params can be close to 1 MiB, so `limit=1000` could mean a gigabyte read, decoded and encoded in
one go (300 such events took the server from 178 MB to 881 MB). A page is therefore read from the store in
fetches sized from the largest item seen so far (the first fetch has a fixed size: nothing is known yet),
items are encoded as they are taken, and the page ends before the item that would pass `PAGE_BYTES`: with a
cursor that continues at that item, or, on endpoints without cursors, with fewer items. The first item is
always returned, however large. A fetch whose items all fit may come encoded at once (`joined`, the §8.1
read path: one encoding per fetch, as before pages were capped).

A page is `[` + items joined by `,` + `]`: the same bytes as encoding the list at once. The one exception
is kept too: `json_response` writes a whole body ASCII-escaped when some value holds an escaped lone
surrogate (msgspec cannot write it as UTF-8), so a page holding one is written that way throughout.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
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

    __slots__ = ("biggest", "budget", "first")

    def __init__(self, budget: int | None = None, first: int = FIRST_FETCH) -> None:
        self.budget = PAGE_BYTES if budget is None else budget
        self.first = first
        self.biggest = 0

    def rows(self, wanted: int, room: int | None = None) -> int:
        """Rows to fetch of the `wanted` ones: as many of the largest seen as fit in `room` bytes (default
        the whole budget), and at least one."""
        if self.biggest == 0:
            return min(wanted, self.first)
        return max(1, min(wanted, (self.budget if room is None else room) // self.biggest))

    def saw(self, size: int) -> None:
        if size > self.biggest:
            self.biggest = size


@dataclass(slots=True)
class Page(Generic[H]):
    items: list[bytes | memoryview]  # pieces of JSON: items, or items joined by commas
    more: bool  # items follow the last one (the page ended at the limit or at the byte cap)
    last: H | None  # the handle of the last item's row (None on an empty page)

    def array(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


class _Builder:
    """Encoded items under the byte cap; switches the page to ASCII escapes if an item needs them. A piece
    of `items` is one item's JSON or, from `append_joined`, several items' joined by commas."""

    def __init__(self, overhead: int) -> None:
        self.items: list[bytes | memoryview] = []
        self.count = 0  # items on the page
        self.size = overhead + 2
        self.biggest = 0
        self.ascii = False
        self.cut = False  # the ASCII switch dropped items from the end: the page ends at the last kept one

    def extend(self, values: Iterable[Any]) -> int:
        """Append `values` in order until one would pass the cap (the first item always goes in); how many
        went in. One loop without calls per item: on the §8.1 read path the values are already bytes."""
        items, size, biggest = self.items, self.size, self.biggest
        added = 0
        for value in values:
            if self.ascii:
                data = ascii_item(value)
            else:
                try:
                    data = value if type(value) is bytes else _encode(value)
                except UnicodeEncodeError:
                    self.size = size
                    self._to_ascii()
                    if self.cut:
                        return added
                    items, size = self.items, self.size
                    data = ascii_item(value)
            length = len(data)
            if items and size + length + 1 > PAGE_BYTES:
                break
            items.append(data)
            size += length + 1
            if length > biggest:
                biggest = length
            added += 1
        self.size, self.biggest = size, biggest
        self.count += added
        return added

    def append_joined(self, joined: bytes | memoryview, count: int, biggest: int) -> bool:
        """Append `count` items already joined by commas, if they all fit (`biggest`: a bound on the
        largest one's size)."""
        if self.ascii or self.size + len(joined) + 1 > PAGE_BYTES:
            return False  # item by item instead (which also lets a first item past the cap in alone)
        self.items.append(joined)
        self.size += len(joined) + 1
        self.count += count
        self.biggest = max(self.biggest, biggest)
        return True

    def _to_ascii(self) -> None:
        self.ascii = True
        self.items = [
            ascii_item(item) for piece in self.items for item in _decode(b"[" + bytes(piece) + b"]")
        ]
        self.count = len(self.items)
        self.size = sum(len(item) + 1 for item in self.items) + 2
        # Escapes make items longer: a page near the cap may now be past it.
        while len(self.items) > 1 and self.size > PAGE_BYTES:
            self.size -= len(self.items.pop()) + 1
            self.count -= 1
            self.cut = True


async def _same(handle: Any) -> Any:
    return handle


async def collect(
    fetch: Callable[[int, K | None], Awaitable[Sequence[R]]],
    handle: Callable[[R], H],
    render: Callable[[Sequence[R]], Awaitable[Iterable[Any]]],
    limit: int,
    after: K | None = None,
    overhead: int = 0,
    position: Callable[[H], Awaitable[K | None]] = _same,
    first: int = FIRST_FETCH,
    joined: Callable[[Sequence[R], int], tuple[bytes | memoryview, int] | None] | None = None,
) -> Page[H]:
    """Up to `limit` items after `after`, within `PAGE_BYTES` (`overhead`: the bytes around the array).

    `fetch(n, after)` reads the next `n` rows after a keyset position. `handle(row)` is kept for each item,
    and `position(handle)` makes the keyset position after it: it is asked only where a fetch continues (the
    timeline's rows carry no `seq`, and looking it up costs a query). `render(rows)` makes what is encoded
    for the rows: JSON-ready values, or their JSON already encoded (one per row, in order). `first`: the
    rows of the first fetch, before any size is known. `joined(rows)`, where given, is tried first: the
    rows' items joined by commas in one encoding, and a bound on the largest one (None: declined); a fetch
    whose items all fit goes in whole, else item by item."""
    page = _Builder(overhead)
    handles: list[H] = []  # one per item on the page
    sizer = Sizer(first=first)
    at = after
    while True:
        remaining = limit - page.count
        want = sizer.rows(remaining, PAGE_BYTES - page.size)
        # At the limit, one more row tells whether the page ends there or more items follow.
        asked = want + 1 if want == remaining else want
        rows = await fetch(asked, at)
        taken = rows[:want]
        whole = joined(taken, PAGE_BYTES - page.size - 1) if joined is not None and taken else None
        if whole is not None and page.append_joined(whole[0], len(taken), whole[1]):
            added = len(taken)
        else:
            added = page.extend(await render(taken))
        handles.extend(map(handle, taken[:added]))
        if added < len(taken) or page.cut:  # the page is full
            return Page(page.items, True, handles[page.count - 1])
        sizer.saw(page.biggest)
        last = handles[-1] if handles else None
        if len(rows) < asked:
            return Page(page.items, False, last)  # the store has no more
        if page.count == limit:
            return Page(page.items, True, last)  # the extra row exists
        del rows, taken  # the next fetch's rows are not held beside these
        at = await position(handles[-1])
        if at is None:  # the last row is gone (deleted meanwhile): end the page where it is
            return Page(page.items, True, last)
