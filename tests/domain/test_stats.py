"""`tracktion.domain.stats`: the pure parts of §13.6a (series, bucket names) and the §13.2 param match."""

from __future__ import annotations

import random

from tracktion.domain.stats import OTHER, BucketNames, bucket_range, params_match, same_json, series
from tracktion.domain.timefmt import format_ms


def test_bucket_names_are_format_ms() -> None:
    names = BucketNames()
    rng = random.Random(19)
    for ms in [
        0,
        60_000,
        86_399_940_000,
        *(rng.randrange(0, 4_102_444_800_000) // 60_000 * 60_000 for _ in range(2000)),
    ]:
        assert names(ms) == format_ms(ms)


def test_bucket_range_is_whole_aligned_buckets() -> None:
    assert bucket_range(3_600_000 + 5, 3 * 3_600_000, 3_600_000) == (3_600_000, 3 * 3_600_000, 3)
    assert bucket_range(0, 59_999, 60_000) == (0, 0, 1)


def test_series_ranks_sums_other_and_drops_empty_buckets() -> None:
    # a: 1 + 4; b: 5; c: 2 at 0 and 1 at 120; d: 2 at 120
    rows = [("a", 0, 1), ("b", 0, 5), ("c", 0, 2), ("a", 60, 4), ("c", 120, 1), ("d", 120, 2)]
    out = series(rows, 2)  # three totals of 5, by key: "(" sorts before "a"
    assert out == [(OTHER, 5, [[0, 2], [120, 3]]), ("a", 5, [[0, 1], [60, 4]]), ("b", 5, [[0, 5]])]
    assert [k for k, _, _ in series(rows, 50)] == ["a", "b", "c", "d"]
    assert series(rows, 4) == series(rows, 50)  # no (other) when every key has a series


def test_same_json() -> None:
    assert same_json(2, 2.0) and not same_json(True, 1) and not same_json(1, True)
    assert same_json({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not same_json({"a": 1}, {"a": 1, "b": 2}) and not same_json([1], [1, 1]) and not same_json("1", 1)
    assert params_match({"x": 1, "y": "z"}, (("x", 1.0), ("y", "z")))
    assert not params_match({"x": 1}, (("y", None),))


def test_series_keeps_an_other_the_store_already_summed() -> None:
    rows = [("a", 0, 4), (OTHER, 0, 4), ("b", 0, 3), (OTHER, 60, 1)]
    assert series(rows, 2) == [(OTHER, 5, [[0, 4], [60, 1]]), ("a", 4, [[0, 4]]), ("b", 3, [[0, 3]])]
    assert series(rows, 1) == [(OTHER, 8, [[0, 7], [60, 1]]), ("a", 4, [[0, 4]])]
