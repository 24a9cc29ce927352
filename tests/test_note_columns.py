"""Notes rendered from columns give what rendering row by row gives: `render_table` asks only for
the names a loop binds and falls back to one render per row where a loop cannot be used, and
`licensed_pools` is `eligible` as distinct pools and an index."""

from __future__ import annotations

import numpy as np
import pytest

from data_generator.claims import build_view, eligible, licensed_pools, phrase_list
from data_generator.note_context import render_many, render_table

NAMES = ("patient", "lab", "note_day", "phrases")
ROWS = [({"age": 71}, {"k": {"value": 4.2}}, 3, {"hpi": "Fever."}),
        ({"age": 8}, {}, 1, {"hpi": "No\x00fever."}),                  # a NUL: the loop cannot split it
        ({"age": 40}, {"k": {"value": 3.9}}, 2, {"hpi": "Stable."})]


def _table(text: str, rows: list[tuple]) -> tuple[list[str], list[str]]:
    """render_table's texts for `rows`, and the names it asked for."""
    asked = []

    def column(name: str) -> list:
        asked.append(name)
        return [row[NAMES.index(name)] for row in rows]
    return render_table(text, NAMES, column, len(rows)), asked


@pytest.mark.parametrize("text", [
    "Age {{ patient.age }}, day {{ note_day }}.\n",
    "{% if lab %}K {{ lab.k.value }}{% else %}none{% endif %}",
    "{{ note_day }}",
    "plain",
    "{% set x = note_day * 2 %}{{ x }} {{ patient.age }}",              # sets a variable: row by row
])
def test_a_table_renders_as_its_rows_would(text):
    """Without a NUL in the values, the table gives render_many's texts, asking a loop template only
    for the names it uses."""
    rows = [ROWS[0], ROWS[2]]
    texts, asked = _table(text, rows)
    assert texts == render_many(text, NAMES, rows)
    if "set" not in text:
        assert set(asked) <= {"patient", "lab", "note_day"} and "phrases" not in asked


def test_a_value_holding_a_nul_renders_row_by_row():
    """A value holding the loop's separator falls back to one render per row, as render_many does."""
    texts, _ = _table("{{ phrases.hpi }} ({{ note_day }})", ROWS)
    assert texts == ["Fever. (3)", "No\x00fever. (1)", "Stable. (2)"]
    assert _table("x", [])[0] == []


def test_licensed_pools_are_the_eligible_phrases():
    """Each (encounter, time) reads, through its index, the pool `eligible` gives it."""
    view = build_view({"admit": np.array([0, 0]), "outcome": np.array(["recovers", "dies"])},
                      {"enc": np.array([0, 0, 1]), "time": np.array([60, 7200, 60]),
                       "temp_c": np.array([36.8, 39.2, 38.9])},
                      {"enc": np.zeros(0, np.int64), "test": np.zeros(0, str), "value": np.zeros(0),
                       "flag": np.zeros(0, str), "collected": np.zeros(0, np.int64),
                       "resulted": np.zeros(0, np.int64)})
    phrases = phrase_list(["afebrile course",
                           {"text": "febrile", "when": {"vital": "temp_c", "stat": "max", "op": ">=", "value": 38}},
                           {"text": "dies", "when": {"outcome": ["dies"]}}])
    e, t = np.array([0, 0, 1, 1]), np.array([100, 8000, 100, 0])
    pools, at = licensed_pools(phrases, view, e, t)
    assert [pools[i] for i in at.tolist()] == eligible(phrases, view, e, t) == [
        ["afebrile course"], ["febrile"], ["febrile", "dies"], ["dies"]]
    assert len(pools) == len({tuple(p) for p in pools})
