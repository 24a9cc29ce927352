"""RNG streams are independent per table: a change that alters how many random draws one table makes
leaves every other table's bytes unchanged.

Editing text changes no draw; these edits do. Each test first checks its premise (the edited
table's stream really made a different number of draws), then compares the written files.
"""

from __future__ import annotations

import numpy as np

from data_generator.config import load_config
from data_generator.generators.encounters import day_encounters, generate_encounters
from data_generator.generators.notes import generate_notes
from data_generator.generators.registry import derive_registry
from data_generator.pipeline import chart, iter_day
from data_generator.rng import stream
from tests.conftest import DAY, edit_yaml
from tests.runs import config_copy, file_bytes, run_day

N = 40
ITEMS = ("heart_rate", "resp_rate", "sbp", "spo2", "temp_c", "pain_score")


def _state(rng: np.random.Generator) -> int:
    return rng.bit_generator.state["state"]["state"]


def _streams_after(cfg) -> dict[str, int]:
    """The state each of chunk 0's streams ends in after generating N encounters (for premises)."""
    day = DAY.isoformat()
    registry = derive_registry(cfg, DAY)
    enc = generate_encounters(cfg, DAY, registry, N, stream(cfg.seed, day, "encounters"))
    rngs: dict[str, np.random.Generator] = {}

    def rng(step):
        rngs[step] = stream(cfg.seed, day, step, 0)
        return rngs[step]

    _, vitals, labs, events = chart(cfg, DAY, enc, rng)
    generate_notes(cfg, DAY, registry, enc, vitals, labs, rng("notes"), interventions=events)
    return {step: _state(r) for step, r in rngs.items()}


def _vitals_missing(extra: dict):
    """Charting's missing probabilities with `extra` items appended after the usual ones."""
    def edit(g):
        usual = g["charting"]["missing_probability"]
        g["charting"]["missing_probability"] = {**{k: usual[k] for k in ITEMS}, **extra}
    return edit


def test_more_vitals_draws_leave_other_tables_unchanged(tmp_path):
    """An extra never-firing missing-item check makes vitals draw more numbers but change no value:
    vitals and every other file stay byte-identical, so no other table reads the vitals stream."""
    base_edit, more_edit = _vitals_missing({}), _vitals_missing({"consciousness": 0.0})
    before = _streams_after(load_config(config_copy(tmp_path / "p1", base_edit)))
    after = _streams_after(load_config(config_copy(tmp_path / "p2", more_edit)))
    # The charted sets draw their jitter and missed items from a copy of the vitals stream's state
    # (the treated chart replays the untreated one's draws), so the extra draws do not show in the
    # stream object itself; _drop_missing draws once per listed item.
    assert {k: v for k, v in before.items() if k != "vitals"} == {k: v for k, v in after.items() if k != "vitals"}
    base = file_bytes(run_day(tmp_path / "base", base_edit, encounters=N))
    more = file_bytes(run_day(tmp_path / "more", more_edit, encounters=N))
    assert base["vitals.csv"] == more["vitals.csv"], \
        "premise: the missing-item checks must stay the vitals stream's last draws (else pick another change)"
    assert base == more



def _add_progress_template(config_dir):
    """A third progress-note template that uses no phrase: notes pick templates and phrases differently."""
    edit_yaml(config_dir / "notes" / "templates.yaml", lambda d: d["note_types"]["progress"]["templates"].append(
        "Brief progress note, day {{ note_day }}: {{ vitals_line(latest) }}.\n"))


def test_more_notes_draws_leave_other_tables_unchanged(tmp_path):
    """A different number of note templates changes which templates and phrases notes draw: notes
    change, while patients, encounters, vitals and labs stay byte-identical."""
    base_cfg = load_config(config_copy(tmp_path / "p1"))
    more_cfg = load_config(config_copy(tmp_path / "p2", edit_files=_add_progress_template))
    assert len(more_cfg.notes["note_types"]["progress"]["templates"]) == \
        len(base_cfg.notes["note_types"]["progress"]["templates"]) + 1
    before, after = _streams_after(base_cfg), _streams_after(more_cfg)
    assert before["notes"] != after["notes"]  # premise: the notes stream made other draws
    assert {k: v for k, v in before.items() if k != "notes"} == {k: v for k, v in after.items() if k != "notes"}
    base = file_bytes(run_day(tmp_path / "base", encounters=N))
    more = file_bytes(run_day(tmp_path / "more", encounters=N, edit_files=_add_progress_template))
    assert base["notes.jsonl"] != more["notes.jsonl"]
    assert {k: v for k, v in base.items() if k != "notes.jsonl"} == \
        {k: v for k, v in more.items() if k != "notes.jsonl"}


def test_more_lab_draws_leave_vitals_and_encounters_unchanged(tmp_path):
    """A scenario lab schedule with one more panel makes labs draw more: vitals, encounters and
    patients stay byte-identical (labs and the notes quoting them may change)."""
    def one_more_panel(config_dir):
        edit_yaml(config_dir / "scenarios" / "observation.yaml",
                   lambda d: d["labs"]["schedule"].append({"panels": ["CRP"], "at": "admission"}))
    mix = _only_observation
    base = file_bytes(run_day(tmp_path / "base", mix, encounters=N))
    more = file_bytes(run_day(tmp_path / "more", mix, encounters=N, edit_files=one_more_panel))
    assert base["labs.csv"] != more["labs.csv"]
    for name in ("patients.csv", "encounters.csv", "vitals.csv"):
        assert base[name] == more[name], name


def _only_observation(g):
    g["scenarios"]["weights"] = {k: (1.0 if k == "observation" else 0.0) for k in g["scenarios"]["weights"]}
    g["scenarios"]["weekday"], g["scenarios"]["seasonal"] = {}, {}


def test_notes_draw_from_their_own_stream(cfg):
    """A day's notes are what a fresh notes stream (seed, date, "notes", chunk) gives on the day's
    chart: the notes share no draws with the vitals, labs or interventions streams."""
    day = DAY.isoformat()
    registry = derive_registry(cfg, DAY)
    written = [t for name, t in iter_day(cfg, DAY, "sample", registry, N) if name == "notes"]
    assert len(written) == 1  # one chunk
    enc = day_encounters(cfg, DAY, "sample", registry, N)
    _, vitals, labs, events = chart(cfg, DAY, enc, lambda step: stream(cfg.seed, day, step, 0))
    again = generate_notes(cfg, DAY, registry, enc, vitals, labs, stream(cfg.seed, day, "notes", 0), 1, events)
    assert again["text"].tolist() == written[0]["text"].tolist()
