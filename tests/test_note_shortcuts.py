"""The note engine's shared work gives what the work done value by value gives: dicts filled a
column at a time, vitals written once per distinct value, a text column's claim series sharing
their counts, lab tests given to the claim view as catalogue codes, and `worst` holding only what
a note's texts may read of it."""

from __future__ import annotations

import numpy as np
import pytest

from data_generator.claims import build_view, compile_claim
from data_generator.config import load_config
from data_generator.generators.note_chart import Prose
from data_generator.generators.note_text import records
from data_generator.generators.notes import _worst_read
from data_generator.note_context import VITAL_KEYS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "config" / "generator.yaml")


def test_records_are_new_dicts_as_dict_of_zip_makes_them():
    """Each row's dict holds its values under the keys in order, and no two rows share a dict."""
    keys, cols = ("b", "a"), [[1, None, "x"], [2.5, [1], {}]]
    out = records(keys, cols, 3)
    assert out == [dict(zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]
    assert [list(d) for d in out] == [list(keys)] * 3
    assert len({id(d) for d in out}) == 3
    empty = records((), [], 2)
    assert empty == [{}, {}] and empty[0] is not empty[1]


def test_vitals_written_once_per_value_read_as_each_written_alone(cfg):
    """Numbers (repeated, -0.0 beside 0.0, ints) and devices written in bulk read as `_word`
    writes each one."""
    prose = Prose(cfg)
    cases = {"temp_c": np.array([37.25, -0.0, 0.0, 37.25, 38.0]), "heart_rate": np.array([88, 88, 0, 120]),
             "o2_device": np.array(["room_air", "nasal_cannula", "room_air"], dtype=object)}
    for key, values in cases.items():
        got = prose.written(key, values).tolist()
        assert got == [prose._word(key, v) for v in values.tolist()], key
    assert prose.written("temp_c", np.array([-0.0, 0.0])).tolist() == ["-0.0", "0.0"]


def test_a_text_column_series_answers_as_one_built_alone():
    """Two claims on the oxygen device (the second's series shares the first's counts) hold
    where the same claims hold on a view that built only that one series."""
    enc = np.array([0, 0, 0, 1, 1])
    time = np.array([0, 100, 200, 0, 100])
    vitals = {"enc": enc, "time": time,
              "o2_device": np.array(["room_air", None, "niv", "nasal_cannula", "niv"], dtype=object)}
    labs = {"enc": np.zeros(0, np.int64), "test": np.zeros(0, object), "value": np.zeros(0),
            "flag": np.zeros(0, object), "collected": np.zeros(0, np.int64), "resulted": np.zeros(0, np.int64)}
    encounters = {"admit": np.array([0, 0])}
    first = compile_claim({"o2_device": ["room_air"], "stat": "latest"})
    second = compile_claim({"o2_device": ["niv"], "stat": "ever"})
    e, t = np.array([0, 0, 0, 1, 1]), np.array([0, 150, 250, 50, 150])
    shared = build_view(encounters, vitals, labs)
    first(shared, e, t)
    alone = build_view(encounters, vitals, labs)
    assert second(shared, e, t).tolist() == second(alone, e, t).tolist() == [False, False, True, False, True]


def test_a_view_given_lab_codes_answers_as_one_given_test_names():
    """Lab tests as catalogue codes (as the engine passes them) and as names (as the file
    checker passes them) give the same answers."""
    names = ["lactate", "creatinine"]
    code = np.array([1, 0, 0, 1, 0])
    base = {"enc": np.array([0, 0, 1, 1, 0]), "value": np.array([90.0, 3.5, 1.1, 120.0, 4.5]),
            "flag": np.array(["N", "H", "N", "H", "HH"], dtype=object),
            "collected": np.array([0, 10, 20, 30, 40]), "resulted": np.array([5, 15, 25, 35, 45])}
    by_name = build_view({"admit": np.array([0, 0])}, {"enc": np.zeros(0, np.int64), "time": np.zeros(0, np.int64)},
                         {**base, "test": np.array([names[c] for c in code], dtype=object)})
    by_code = build_view({"admit": np.array([0, 0])}, {"enc": np.zeros(0, np.int64), "time": np.zeros(0, np.int64)},
                         {**base, "code": code, "names": names})
    e, t = np.array([0, 0, 1, 1]), np.array([16, 50, 30, 40])
    for cond in ({"lab": "lactate", "stat": "latest", "op": ">", "value": 4},
                 {"lab": "creatinine", "stat": "max", "op": ">=", "value": 100},
                 {"lab": "lactate", "stat": "flag", "in": ["HH"]}):
        check = compile_claim(cond)
        assert check(by_code, e, t).tolist() == check(by_name, e, t).tolist(), cond
    assert compile_claim({"lab": "lactate", "stat": "latest", "op": ">", "value": 4})(by_code, e, t).tolist() == \
        [False, True, False, False]


@pytest.mark.parametrize(("texts", "read"), [
    (["{% if worst.temp_c is defined %}Tmax {{ worst.temp_c }}{% endif %}"], {"temp_c"}),
    (["{{ worst.sbp }}", "{{ latest.sbp }}"], {"sbp"}),
    (["no worst here"], set()),
    (["{% if worst %}some{% endif %}"], set(VITAL_KEYS)),           # its truth: every column
    (["{{ vitals_line(worst) }}"], set(VITAL_KEYS)),                # a line written from it
    (["{% for k in worst %}{{ k }}{% endfor %}"], set(VITAL_KEYS)),  # its keys
])
def test_worst_holds_what_a_text_may_read_of_it(texts, read):
    assert _worst_read(texts) == frozenset(read)
