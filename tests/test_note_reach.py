"""What a note's texts can read of its context decides what the note engine builds: a text that
only tests `lab` and passes it to `labs_line` gets each result as its labs line writes it, and
renders exactly as it would with the full entries."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from data_generator.generators import note_chart
from data_generator.generators import notes as notes_module
from data_generator.note_context import reads_into
from data_generator.pipeline import build_day


@pytest.mark.parametrize(("text", "reads"), [
    ("{% if lab %}Labs: {{ labs_line(lab) }}.\n{% endif %}Plan.", False),
    ("{% if lab %}a{% elif lab %}b{% else %}c{% endif %}", False),
    ("{{ patient.age }} and no labs", False),
    ("{% set lab = 3 %}{{ lab }}", False),                      # its own variable, not the context's
    ("{{ lab }}", True),
    ("{{ lab.hemoglobin.value }}", True),
    ("{% if lab.hemoglobin is defined %}x{% endif %}", True),
    ("{% if not lab %}none{% endif %}", True),
    ("{{ lab | length }}", True),
    ("{% for test in lab %}{{ test }}{% endfor %}", True),
    ("{{ x if lab else y }}", True),
    ("{{ labs_line(lab, 1) }}", True),
    ("{{ vitals_line(lab) }}", True),                           # another helper
    ("{% set labs_line = patient %}{{ labs_line(lab) }}", True),  # the helper replaced
    ("{% if lab %}", True),                                     # does not parse
])
def test_what_a_text_may_read_of_a_value(text, reads):
    """Only a whole `if` test and the one argument of the value's own helper leave its contents unread."""
    assert reads_into(text, "lab", "labs_line") is reads


def test_notes_render_the_same_whether_or_not_results_are_built_as_entries(monkeypatch, cfg):
    """Every note of a day reads as it does when every note's context holds full lab entries."""
    date = dt.date(2026, 1, 15)
    asked = []
    labs = note_chart.Chart.labs

    def spy(self, e, epoch, entries):
        asked.append(entries.copy())
        return labs(self, e, epoch, entries)
    monkeypatch.setattr(note_chart.Chart, "labs", spy)
    _, lean = build_day(cfg, date, "sample", 60)
    assert not np.concatenate(asked).all()                     # some notes got results as written
    monkeypatch.setattr(notes_module, "_reads_results", lambda *args: True)
    asked.clear()
    _, full = build_day(cfg, date, "sample", 60)
    assert np.concatenate(asked).all()
    assert lean["notes"]["text"].tolist() == full["notes"]["text"].tolist()
    assert any("Labs:" in text for text in lean["notes"]["text"].tolist())
