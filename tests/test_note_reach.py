"""What a note's texts can read of its context decides what the note engine builds: a text that
only tests `lab` and passes it to `labs_line` gets each result as its labs line writes it, and
`first` and `latest` hold only the columns some text names; the notes read exactly as they would
with every entry built."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from data_generator.generators import note_chart
from data_generator.generators import notes as notes_module
from data_generator.note_context import VITAL_KEYS, value_uses
from data_generator.pipeline import build_day

NOTHING = (frozenset(), False)


@pytest.mark.parametrize(("text", "uses"), [
    ("{% if lab %}Labs: {{ labs_line(lab) }}.\n{% endif %}Plan.", (frozenset(), True)),
    ("{% if lab %}a{% elif lab %}b{% else %}c{% endif %}", (frozenset(), True)),
    ("{{ labs_line(lab) }}", NOTHING),
    ("{{ patient.age }} and no labs", NOTHING),
    ("{% set lab = 3 %}{{ lab }}", NOTHING),                       # its own variable, not the context's
    ("{{ lab.hemoglobin.value }}", (frozenset({"hemoglobin"}), False)),
    ("{% if lab.hemoglobin is defined %}{{ lab.k }}{% endif %}", (frozenset({"hemoglobin", "k"}), False)),
    ("{{ lab }}", None),
    ("{% if not lab %}none{% endif %}", None),
    ("{{ lab | length }}", None),
    ("{{ lab['k'] }}", None),
    ("{% for test in lab %}{{ test }}{% endfor %}", None),
    ("{{ x if lab else y }}", None),
    ("{{ labs_line(lab, 1) }}", None),
    ("{{ vitals_line(lab) }}", None),                              # another helper
    ("{% set labs_line = patient %}{{ labs_line(lab) }}", None),   # the helper replaced
    ("{% if lab %}", None),                                        # does not parse
])
def test_what_a_text_may_read_of_a_value(text, uses):
    """Attributes named, a whole `if` test and the one argument of the value's own helper are
    the uses known; any other use may read anything."""
    assert value_uses(text, "lab", "labs_line") == uses


def test_notes_render_the_same_as_with_every_entry_built(monkeypatch, cfg):
    """Every note of a day reads as it does when every note's context holds full lab entries and
    every charted vital, worst ones included."""
    date = dt.date(2026, 1, 15)
    asked = []
    labs, vitals = note_chart.Chart.labs, note_chart.Chart.vitals

    def spy_labs(self, e, epoch, entries):
        asked.append(entries.copy())
        return labs(self, e, epoch, entries)

    def spy_vitals(self, e, epoch, worst, read, worst_read):
        asked.append(np.array([read == frozenset(VITAL_KEYS), worst_read == frozenset(VITAL_KEYS)]))
        return vitals(self, e, epoch, worst, read, worst_read)
    monkeypatch.setattr(note_chart.Chart, "labs", spy_labs)
    monkeypatch.setattr(note_chart.Chart, "vitals", spy_vitals)
    _, lean = build_day(cfg, date, "sample", 60)
    assert not np.concatenate(asked).all()                       # some note read less than everything
    monkeypatch.setattr(notes_module, "_reads_results", lambda *args: True)
    monkeypatch.setattr(notes_module, "_vitals_read", lambda *args: frozenset(VITAL_KEYS))
    monkeypatch.setattr(notes_module, "_worst_read", lambda *args: frozenset(VITAL_KEYS))
    asked.clear()
    _, full = build_day(cfg, date, "sample", 60)
    assert np.concatenate(asked).all()
    texts = lean["notes"]["text"].tolist()
    assert texts == full["notes"]["text"].tolist()
    assert any("Labs:" in t for t in texts) and any(", pain " in t for t in texts)
