"""Scenarios are content: a YAML edit or a new YAML file changes the next run, no code involved."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import yaml

from data_generator.config import load_config
from data_generator.pipeline import build_day, generate_day
from data_generator.validation import validate_day
from tests.conftest import DAY, copy_config

NEW_SCENARIO = """
schema_version: 1
title: Migraine
source: "test scenario"
arrival: emergency
population:
  age: {mean: 35, sd: 10, min: 18, max: 70}
  male_share: 0.25
acuity: {3: 0.6, 4: 0.4}
diagnoses:
  - {code: G43.909, desc: "Migraine, unspecified, not intractable, without status migrainosus", weight: 1}
states:
  headache:
    start: 0.9
    phases:
      - {name: treated, hours: 6, value: 0.2}
      - {name: resolved, stay_fraction: 1.0, value: 0.0}
outcomes:
  resolves:
    p: 1.0
    encounter_type: ED
    care_unit: ED
    los_hours: {median: 6, sigma: 0.3, min: 3, max: 12}
    disposition: {home: 1.0}
    notes:
      course: ["Headache settling with antiemetic and analgesia."]
      discharge: ["Migraine treated in the ED; home with follow-up."]
vitals:
  pain_score: {at: {headache: 8.5}}
  heart_rate: {at: {headache: 92}}
labs:
  schedule:
    - {panels: [BMP], at: admission}
notes:
  complaint: ["severe headache with photophobia"]
  hpi: ["Typical of prior migraines."]
  assessment: ["Migraine without aura."]
  plan: ["Antiemetic, analgesia, dark room."]
"""


def test_new_scenario_from_yaml_alone(tmp_path):
    """A scenario file plus its weight is all it takes: the day includes it and validates."""
    path = copy_config(tmp_path, lambda g: g["scenarios"]["weights"].update(migraine=5.0))
    (path.parent / "scenarios" / "migraine.yaml").write_text(NEW_SCENARIO)
    cfg = load_config(path)
    folder = generate_day(cfg, DAY, "sample", tmp_path, encounters=80).folder
    assert validate_day(folder, DAY).ok
    enc = pd.read_csv(folder / "encounters.csv")
    mig = enc[enc.scenario == "migraine"]
    assert len(mig) > 10
    assert set(mig.primary_dx_code) == {"G43.909"} and set(mig.care_unit) == {"ED"}
    vitals = pd.read_csv(folder / "vitals.csv")
    pain = vitals[vitals.encounter_id.isin(mig.encounter_id)].pain_score.dropna()
    assert pain.median() >= 5
    notes = pd.read_json(folder / "notes.jsonl", lines=True)
    assert notes[notes.encounter_id.isin(mig.encounter_id)].text.str.contains("photophobia").any()


def test_editing_a_yaml_value_changes_the_data(tmp_path):
    """Raising sepsis's temperature at full infection raises septic patients' charted fevers."""
    def sepsis_only(g):
        g["scenarios"]["weights"] = {k: (1 if k == "sepsis" else 0) for k in g["scenarios"]["weights"]}

    def fever(path, value):
        scen = path.parent / "scenarios" / "sepsis.yaml"
        data = yaml.safe_load(scen.read_text())
        data["vitals"]["temp_c"]["at"]["infection"] = value
        scen.write_text(yaml.safe_dump(data, sort_keys=False))
        return load_config(path)

    mild = fever(copy_config(tmp_path / "a", sepsis_only), 38.0)
    hot = fever(copy_config(tmp_path / "b", sepsis_only), 40.5)
    cool, warm = (pd.Series(build_day(c, DAY, "sample", 60)[1]["vitals"]["temp_c"]) for c in (mild, hot))
    assert warm.max() > cool.max() + 1.0
    assert warm.mean() > cool.mean() + 0.4


def test_documented_example_is_a_valid_scenario(tmp_path):
    """The annotated example in docs/scenarios.md loads and generates as written."""
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "scenarios.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = copy_config(tmp_path, lambda g: g["scenarios"]["weights"].update(doc_example=50.0))
    (path.parent / "scenarios" / "doc_example.yaml").write_text(example)
    _, tables = build_day(load_config(path), DAY, "sample", 30)
    assert "doc_example" in set(tables["encounters"]["scenario"])
    assert "operative" in set(tables["notes"]["note_type"])


def test_a_day_with_no_weighted_scenario_is_empty_but_valid(tmp_path):
    """Only elective surgery configured, on a Sunday (weekday factor 0): an empty, valid day."""
    def surgery_only(g):
        g["scenarios"]["weights"] = {k: (1 if k == "post_op_hip" else 0) for k in g["scenarios"]["weights"]}
    cfg = load_config(copy_config(tmp_path, surgery_only))
    sunday = DAY + dt.timedelta(days=(6 - DAY.weekday()))
    folder = generate_day(cfg, sunday, "sample", tmp_path).folder
    assert validate_day(folder, sunday).ok
    assert pd.read_csv(folder / "encounters.csv").empty
