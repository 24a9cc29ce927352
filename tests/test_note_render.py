"""The note engine's fast paths give what the plain ways give: a loop template renders each row
as one sandboxed render per row would, the sandbox's shortcuts change no outcome, the batched
draws are the one-at-a-time draws, and the chart's pattern-filled lines are the part-by-part ones."""

from __future__ import annotations

import numpy as np
import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.generators.note_chart import Prose, filler
from data_generator.generators.note_text import _Draws
from data_generator.note_context import VITAL_KEYS, _plan, helper, render_many
from tests.conftest import copy_config

NAMES = ("patient", "lab", "note_day", "phrases")
ROWS = [({"age": 71, "items": "shadowed"}, {"k": {"value": 4.2}}, 3, {"hpi": "Fever."}),
        ({"age": 8, "items": "x"}, {}, 1, {"hpi": "No fever."})]


def _plain(text: str, names: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """One render per row in Jinja's own immutable sandbox (no shortcuts, no loop)."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()
    return [env.from_string(text).render(dict(zip(names, row, strict=True))) for row in rows]


@pytest.mark.parametrize(("text", "loops"), [
    ("Age {{ patient.age }}, day {{ note_day }}. {{ phrases.hpi }}\n", True),   # a trailing newline is dropped
    ("{% if lab %}K {{ lab.k.value }}{% else %}none{% endif %}", True),
    ("{{ note_day }}", True),                                                   # one name: bound as the value
    ("{{ '{' }}plain{{ '}' }}", True),                                          # no names at all
    ("{% set x = note_day * 2 %}{{ x }} {{ patient.age }}", False),             # sets a variable: row by row
    ("{{ patient.items }}", True),                                              # dict attribute, not the item
])
def test_a_loop_template_renders_each_row_as_a_render_per_row(text, loops):
    """render_many gives, row for row, what a fresh sandboxed render of each row gives."""
    assert render_many(text, NAMES, ROWS) == _plain(text, NAMES, ROWS)
    assert (_plan(text, NAMES) is not None) is loops


def test_a_value_holding_a_nul_falls_back_to_a_render_per_row():
    """A NUL inside a value would split the loop's output wrongly; the rows are rendered one by one."""
    rows = [(1, "a\x00b"), (2, "c")]
    assert render_many("{{ n }}:{{ s }}", ("n", "s"), rows) == ["1:a\x00b", "2:c"]


def test_a_repeated_name_binds_its_last_value_as_a_dict_would():
    assert render_many("{{ a }}", ("a", "b", "a"), [(1, 2, 3)]) == ["3"]


@pytest.mark.parametrize(("text", "error"), [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", SecurityError),
    ("{{ patient.__class__ }}", SecurityError),      # private attributes of a dict, as of anything
    ("{{ patient.agee }}", UndefinedError),
    ("{{ patient.keys().__len__ }}", SecurityError),
])
def test_the_sandbox_still_refuses_what_it_refused(text, error):
    """The note sandbox's shortcuts keep Jinja's refusals, with the same errors."""
    with pytest.raises(error):
        _plain(text, NAMES, ROWS)
    with pytest.raises(error):
        render_many(text, NAMES, ROWS)


def test_only_marked_helpers_skip_the_call_checks():
    """A method marked `helper` is called directly; an unmarked callable flagged unsafe is refused."""
    class Helpers:
        @helper
        def shout(self, text: str) -> str:
            return text.upper()

        def unsafe(self) -> str:
            return "ran"
        unsafe.unsafe_callable = True

    h = Helpers()
    assert render_many("{{ shout('ok') }}", ("shout",), [(h.shout,)]) == ["OK"]
    with pytest.raises(SecurityError):
        render_many("{{ run() }}", ("run",), [(h.unsafe,)])


def test_draws_take_one_number_each_and_a_changed_bound_changes_that_draw_alone():
    """`_Draws` gives the same numbers flushed at once or in parts, each below its bound; every
    draw takes one number of the stream, so changing one bound (a phrase licensed or not, 1 to 2
    variants included) leaves every other draw as it was."""
    highs = np.random.default_rng(3).integers(1, 9, 2001).tolist()  # some 1s
    whole = _Draws(np.random.default_rng(11))
    whole.highs += highs
    values = whole.flush()
    parts = _Draws(np.random.default_rng(11))
    parts.highs += highs[:700]
    first = list(parts.flush())          # a flush mid-way (a template decided what follows)
    parts.highs += highs[700:]
    assert first == values[:700] and parts.flush() == values
    assert all(0 <= v < n for v, n in zip(values, highs, strict=True))
    for changed in (1, 2, 5):
        edited = list(highs)
        edited[500] = changed if highs[500] != changed else changed + 1
        again = _Draws(np.random.default_rng(11))
        again.highs += edited
        got = again.flush()
        assert got[:500] == values[:500] and got[501:] == values[501:]


def test_draws_are_uniform_over_their_bound():
    """Each of n values comes about 1/n of the time (fixed seed, 60,000 draws per bound)."""
    for n in (2, 3, 7):
        draws = _Draws(np.random.default_rng(5))
        draws.highs += [n] * 60_000
        counts = np.bincount(draws.flush(), minlength=n)
        assert counts.size == n and np.all(np.abs(counts / 60_000 - 1 / n) < 0.01), counts


@pytest.mark.parametrize(("text", "fields", "values"), [
    ("HR {v}", ("v",), ("88",)),
    ("SpO2 {v}% on {device}", ("v", "device"), ("94", "air")),
    ("{unit} then {name}", ("name", "unit"), ("Na", "mmol/L")),      # fields out of order
    ("{name:>6}|{{literal}}", ("name",), ("K",)),                     # a format spec: str.format itself
])
def test_a_filler_writes_what_str_format_writes(text, fields, values):
    assert filler(text, fields)(*values) == text.format(**dict(zip(fields, values, strict=True)))


def test_a_full_vitals_line_fills_one_pattern_as_its_parts_would(cfg):
    """A set quoting every value (one %-pattern) reads as the part-by-part line; so do sets with
    some values missing, and a dict the chart never wrote."""
    prose = Prose(cfg)
    sets = [dict(heart_rate=88, sbp=124, dbp=71, resp_rate=18, spo2=96, o2_device="nasal_cannula", temp_c=38.25),
            dict(heart_rate=102, sbp=90, dbp=55, resp_rate=24, spo2=89, o2_device=None, temp_c=36.0),
            dict(heart_rate=70, sbp=None, dbp=None, resp_rate=None, spo2=97, o2_device="room_air", temp_c=None),
            {k: None for k in VITAL_KEYS}]
    cols = {k: [s.get(k) for s in sets] for k in VITAL_KEYS}
    lines = prose.vitals_lines(cols)
    keys = ("heart_rate", "sbp", "dbp", "resp_rate", "spo2", "o2_device", "temp_c")
    assert lines == [prose._written_line(*(None if s.get(k) is None else prose._word(k, s[k]) for k in keys))
                     for s in sets]
    assert lines[0] == "HR 88, BP 124/71 mmHg, RR 18, SpO2 96% on nasal cannula, T 38.2 C"  # 38.25: half to even
    assert lines[-1] == "not yet charted"
    assert prose.vitals_line({k: v for k, v in sets[0].items() if v is not None}) == lines[0]


def test_results_of_a_test_fill_its_pattern_as_the_catalogue_format_would(cfg):
    """Each catalogue test's results, written with its name, unit and precision in one pattern,
    read as the catalogue's lab format writes them value by value."""
    prose, fmt = Prose(cfg), cfg.notes["formats"]
    for test, spec in cfg.labs["tests"].items():
        unit = cfg.notes["display_units"][spec["unit"]]
        values = [None] if spec.get("categorical") else [0, 1.25, 13.5, 140]
        got = prose.results(test, spec["name"], unit, values, ["No growth"] * len(values))
        want = [fmt["lab_text"].format(name=spec["name"], text="No growth") if v is None else
                fmt["lab"].format(name=spec["name"], value=format(v, f".{spec.get('decimals', 0)}f"), unit=unit).strip()
                for v in values]
        assert got == want, test


def test_a_choice_named_like_a_context_variable_is_refused(tmp_path):
    """A choice called `patient` would hide the patient from every template: a config error."""
    def edit(d):
        d["notes"]["choices"]["patient"] = ["anyone"]
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "scenarios/dka.yaml"))
    assert err.value.where.endswith("dka.yaml: notes.choices.patient")
