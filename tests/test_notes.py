"""Notes quote only what happened: every number tied to a vital or lab exists in the chart."""

from __future__ import annotations

import re

import pandas as pd

from tests.conftest import DAY  # noqa: F401  (the day_dir fixture generates this date)

VITAL_PATTERNS = {
    "heart_rate": r"\bHR (\d+)",
    "resp_rate": r"\bRR (\d+)",
    "spo2": r"\bSpO2 (\d+)%",
    "temp_c": r"\b(?:T|Tmax) (\d+\.\d) C\b",
}


def _load(day_dir):
    enc = pd.read_csv(day_dir / "encounters.csv")
    vitals = pd.read_csv(day_dir / "vitals.csv")
    labs = pd.read_csv(day_dir / "labs.csv")
    notes = pd.read_json(day_dir / "notes.jsonl", lines=True, dtype=False)
    for frame, col in ((vitals, "event_time"), (labs, "result_time"), (notes, "note_time")):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return enc, vitals, labs, notes


def test_every_quoted_vital_was_charted_before_the_note(day_dir):
    """HR, RR, SpO2, BP and temperature quoted in a note match a set charted at or before it."""
    _, vitals, _, notes = _load(day_dir)
    by_enc = dict(tuple(vitals.groupby("encounter_id")))
    checked = 0
    for note in notes.itertuples():
        seen = by_enc[note.encounter_id]
        seen = seen[seen.event_time <= note.note_time]
        for col, pattern in VITAL_PATTERNS.items():
            for value in re.findall(pattern, note.text):
                assert float(value) in set(seen[col].dropna().astype(float)), (note.note_id, col, value)
                checked += 1
        for sbp, dbp in re.findall(r"\bBP (\d+)/(\d+)", note.text):
            assert ((seen.sbp == float(sbp)) & (seen.dbp == float(dbp))).any(), (note.note_id, sbp, dbp)
            checked += 1
    assert checked > 500


def test_every_quoted_lab_was_resulted_before_the_note(day_dir, cfg):
    """A lab value a note quotes equals a result of that encounter available by note time."""
    _, _, labs, notes = _load(day_dir)
    names = sorted({t["name"] for t in cfg.labs["tests"].values() if not t.get("categorical")},
                   key=len, reverse=True)
    pattern = re.compile(r"(?:^|[:;.] )(" + "|".join(map(re.escape, names)) + r") (-?\d+(?:\.\d+)?)(?=[ ;]|\.?$)",
                         re.MULTILINE)
    by_enc = dict(tuple(labs.groupby("encounter_id")))
    checked = 0
    for note in notes.itertuples():
        results = by_enc.get(note.encounter_id)
        for name, value in pattern.findall(note.text):
            avail = results[(results.test_name == name) & (results.result_time <= note.note_time)]
            assert (avail.value.round(3) == round(float(value), 3)).any(), (note.note_id, name, value)
            checked += 1
    assert checked > 200


def test_notes_narrative_follows_the_outcome_branch(day_dir):
    """Discharge summaries of patients who died say so; survivors' never mention death."""
    enc, _, _, notes = _load(day_dir)
    summaries = notes[notes.note_type == "discharge_summary"].merge(enc, on="encounter_id")
    died = summaries.discharge_disposition == "expired"
    assert died.any() and (~died).any()
    mentions = summaries.text.str.contains(r"\b(?:died|death|expired)\b", case=False)
    assert mentions[died].all()
    assert not mentions[~died].any()


def test_notes_are_not_copies(day_dir):
    """Several phrasings per section: admission notes are mostly distinct texts."""
    _, _, _, notes = _load(day_dir)
    hp = notes[notes.note_type == "admission_hp"].text
    assert hp.nunique() == len(hp)
    first_lines = hp.str.split("\n").str[0]
    assert first_lines.nunique() >= 2
