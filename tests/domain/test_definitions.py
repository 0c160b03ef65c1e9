"""`DefinitionDelta.observe` (docs/api.md §10): what a unit of work saw of each action's params."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tracktion.domain.definitions import DefinitionDelta

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.just([1]),
    st.just({}),
)
PARAMS = st.dictionaries(st.sampled_from(["a", "b", "c", "eventUUID"]), VALUES, max_size=3)
EVENTS = st.lists(
    st.tuples(st.sampled_from(["x", "y"]), PARAMS, st.sampled_from([1_000, 2_000, 3_000]), st.booleans()),
    max_size=30,
)


def _state(delta: DefinitionDelta) -> dict[str, Any]:
    return {
        action: (
            d.kind,
            d.inserted,
            d.first_ms,
            d.last_ms,
            {k: (set(v[0]), v[1], v[2]) for k, v in d.params.items()},
        )
        for action, d in delta.actions.items()
    }


@given(EVENTS)
def test_observing_a_shape_again_at_the_same_time_is_skipped_without_changing_what_is_seen(
    events: list[tuple[str, dict[str, Any], int, bool]],
) -> None:
    fast, slow = DefinitionDelta(), DefinitionDelta()
    for action, params, now_ms, inserted in events:
        fast.observe(action, "custom", params, now_ms, inserted)
        slow.observe(action, "custom", params, now_ms, inserted)
        slow.actions[action].shape = None  # no shortcut: every event walks its params
    assert _state(fast) == _state(slow)


def test_a_repeated_shape_still_counts_and_a_new_type_is_still_seen() -> None:
    delta = DefinitionDelta()
    for _ in range(3):
        delta.observe("a", "custom", {"p": 1}, 1_000, True)
    delta.observe("a", "custom", {"p": 1.5}, 1_000, True)
    delta.observe("a", "custom", {"p": 2}, 900, False)
    d = delta.actions["a"]
    assert (d.inserted, d.first_ms, d.last_ms) == (4, 1_000, 1_000)
    assert d.params["p"] == [{"integer", "number"}, 900, 1_000]
