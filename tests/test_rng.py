"""Addressed uniforms (`rng.uniforms`) are a fixed function of the seed, the stream's name and the
indices: whatever the shape of the call, however it is sliced or looked up inside, each value is
SplitMix64's hash of its own indices."""

from __future__ import annotations

import numpy as np

from data_generator.rng import _key, uniforms

MASK = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _reference(seed: int, name: str, *index: int) -> float:
    """One uniform computed with Python integers, one index at a time."""
    h = _key((seed, name))
    for i in index:
        h = _mix((h + _mix((i + GOLDEN) & MASK)) & MASK)
    return (h >> 11) * 2.0**-53


def test_uniforms_match_the_hash_of_each_element():
    """A small call and a large one (sliced, with a looked-up day index) give each element the
    hash of its own indices, negative indices included."""
    rows = np.arange(-3, 2500, dtype=np.int64)
    days = np.arange(1, 31)
    end = (rows * 7) % 400
    big = uniforms(11, "readmit sample", rows[:, None], end[:, None] + days[None, :])
    assert big.shape == (rows.size, days.size)
    for r, g in [(0, 0), (1, 5), (2, 29), (1234, 17), (rows.size - 1, 29)]:
        assert big[r, g] == _reference(11, "readmit sample", int(rows[r]), int(end[r] + days[g]))
    small = uniforms(11, "stay sample", np.arange(3)[:, None], np.array([5, 900]), 4)
    assert small.shape == (3, 2)
    assert small[2, 1] == _reference(11, "stay sample", 2, 900, 4)
    assert uniforms(11, "x", 3, 4) == _reference(11, "x", 3, 4)


def test_uniforms_do_not_depend_on_the_call_shape():
    """Row by row, column by column or all at once: the same values."""
    rows, days = np.arange(70_000), np.arange(3)
    whole = uniforms(5, "returns", rows[:, None], days[None, :], 0)
    assert np.array_equal(whole[:, 1], uniforms(5, "returns", rows, 1, 0))
    assert np.array_equal(whole.T, uniforms(5, "returns", rows[None, :], days[:, None], 0))
    assert np.array_equal(whole[69_990:], uniforms(5, "returns", rows[69_990:, None], days[None, :], 0))
    assert whole.min() >= 0.0 and whole.max() < 1.0
