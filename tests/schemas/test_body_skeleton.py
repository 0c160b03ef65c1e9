"""The byte-level depth pre-check of `decode_json` (§1.3) against the depth of the decoded value."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tracktion.errors import MalformedJson
from tracktion.schemas import body as body_module
from tracktion.schemas.body import _SHAPE, _nesting_exceeds, decode_json


def exceeds(body: bytes, limit: int) -> bool:
    return _nesting_exceeds(body.translate(_SHAPE), limit)


def depth(value: Any) -> int:
    """Level of the deepest container (the outermost one is level 1; a scalar body is 0)."""
    if type(value) is list:
        return 1 + max((depth(v) for v in value), default=0)
    if type(value) is dict:
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


# Strings made of what could confuse a byte scan: brackets, quotes, backslashes, escapes' letters, non-ASCII.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\/u0nd8bé🙂\x00\n :,'), max_size=12)
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        tricky_text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=40,
)


def ascii_json(value: Any) -> bytes:
    return json.dumps(value).encode()  # escapes: \", \\, \uXXXX


encoders = st.sampled_from(
    [
        ascii_json,
        lambda v: json.dumps(v, ensure_ascii=False).encode(),
        lambda v: json.dumps(v, indent=1, ensure_ascii=False).encode(),
        msgspec.json.encode,
    ]
)


@given(values, encoders, st.integers(0, 8))
@example(["[", "]]"], ascii_json, 1)
@example({"a\\": ['\\"[[']}, ascii_json, 1)
@example([[[]]], ascii_json, 2)
@example([[[]]], ascii_json, 3)
def test_skeleton_depth_matches_the_value(value: Any, encode: Any, limit: int) -> None:
    body = encode(value)
    assert exceeds(body, limit) == (depth(value) > limit)


@pytest.mark.parametrize(
    ("body", "deepest"),
    [
        (b'["\\ud800[", [{"\\\\": "]"}]]', 3),  # escaped lone surrogate (the fallback decoder's bodies)
        (b'{"a\\\\\\"[": [[["\\"]"]]]}', 4),
        (b"[" * 64 + b"]" * 64, 64),
        (b"[" * 65 + b"]" * 65, 65),
        (b"[[],[[]],[[[]]],{}]", 4),
    ],
)
def test_skeleton_depth_examples(body: bytes, deepest: int) -> None:
    assert not exceeds(body, deepest)
    assert exceeds(body, deepest - 1)


def test_normal_batch_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Python walk is for bodies that may break a limit; a 1000-event batch must not pay for it.
    def walk(*_: Any) -> bool:
        raise AssertionError("walked")

    monkeypatch.setattr(body_module, "_within_limits", walk)
    event = {
        "action": "page.visit",
        "label": "Page visited",
        "client": {"customId": "bench-7"},
        "time": "2024-03-05T10:15:30.250Z",
        "params": {"url": 'https://x/[1]?q=\\"', "device": {"type": "desktop"}, "n": 1709633730250},
    }
    assert len(decode_json(json.dumps([event] * 1000).encode())) == 1000


@pytest.mark.parametrize("deepest", [63, 64, 65])
def test_deep_item_inside_a_batch_with_tricky_strings(deepest: int) -> None:
    # Strings full of closing brackets must not hide a 65th level; openers in strings must not invent one.
    chain: Any = ']]]]}}}}\\"]]'
    for level in range(deepest - 1):  # the batch array is level 1
        chain = [chain, "[[[{{{"] if level % 2 else {"k]": chain, "\\": "}}}"}
    batch = [{"s": "]" * 80, "t": "[" * 80}] * 50 + [chain]
    body = json.dumps(batch).encode()
    assert depth(batch) == deepest
    if deepest <= 64:
        assert len(decode_json(body)) == 51
    else:
        with pytest.raises(MalformedJson):
            decode_json(body)
