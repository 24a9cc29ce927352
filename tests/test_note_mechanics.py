"""Note mechanics, read back from the written files: precision, hospital day, Tmax window, lab
recency, cultures, death timing, nursing shifts, the author rota and sentence case."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.generators.note_text import _sentence_cased
from data_generator.pipeline import generate_day
from tests.conftest import copy_config

DST_DAY = dt.date(2026, 3, 7)  # New York springs forward on 2026-03-08: stays cross a 23-hour day
DST_ZONE = "America/New_York"
DRAWN = re.compile(r" \(drawn ([^)]*)\)$")


@pytest.fixture(scope="module")
def dst_setup(tmp_path_factory):
    """A day in a zone with daylight saving, whose stays cross the change."""
    tmp = tmp_path_factory.mktemp("dst")

    def edit(gen):
        gen["hospital"]["timezone"] = DST_ZONE
    cfg = load_config(copy_config(tmp, edit))
    (tmp / "out").mkdir()
    return cfg, generate_day(cfg, DST_DAY, "sample", tmp / "out", encounters=80).folder


@pytest.fixture(scope="module", params=["utc", "dst"])
def day(request, day_dir, cfg):
    """(config, files) for the shared UTC day and for the daylight-saving day."""
    if request.param == "utc":
        return cfg, _load(day_dir)
    dst_cfg, folder = request.getfixturevalue("dst_setup")
    return dst_cfg, _load(folder)


def _load(folder) -> dict[str, pd.DataFrame]:
    enc = pd.read_csv(folder / "encounters.csv", dtype=str)
    vitals = pd.read_csv(folder / "vitals.csv")
    labs = pd.read_csv(folder / "labs.csv", dtype={"value_text": str})
    notes = pd.read_json(folder / "notes.jsonl", lines=True, dtype=False)
    for frame, cols in ((enc, ("admit_time", "discharge_time")), (vitals, ("event_time",)),
                        (labs, ("event_time", "result_time")), (notes, ("note_time",))):
        for col in cols:
            frame[col + "_local"] = frame[col].astype(str).str[:19]  # the wall clock the file states
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    notes = notes.merge(enc[["encounter_id", "admit_time", "discharge_time", "admit_time_local",
                             "discharge_disposition"]], on="encounter_id")
    return {"enc": enc, "vitals": vitals, "labs": labs, "notes": notes}


def _lab_names(cfg) -> dict[str, dict]:
    return {t["name"]: t for t in cfg.labs["tests"].values()}


def _lab_key(cfg, name: str) -> str:
    return next(k for k, t in cfg.labs["tests"].items() if t["name"] == name)


def _lab_segments(notes: pd.DataFrame, cfg):
    """(note row, test name, shown text, drawn label or None) for each result in a results line."""
    names = "|".join(map(re.escape, sorted(_lab_names(cfg), key=len, reverse=True)))
    head = re.compile(r"^(" + names + r")\b(.*)$")
    between = re.compile(r"; (?=(?:" + names + r")\b)")  # a culture's text may hold '; ' itself
    for note in notes.itertuples():
        for line in re.findall(r"^(?:Labs|Latest results|Results so far): (.*)\.$", note.text, re.MULTILINE):
            for part in between.split(line):
                m = head.match(part)
                assert m, (note.note_id, part)
                drawn = DRAWN.search(m.group(2))
                yield note, m.group(1), DRAWN.sub("", m.group(2)).strip(), drawn.group(1) if drawn else None


def test_numbers_print_at_their_column_precision(day):
    """No float artefacts: vitals, Tmax and every lab print at their column's decimals (ICD codes aside)."""
    cfg, t = day
    notes = t["notes"]
    artefacts = notes.text.str.findall(r"[^\n]{0,40}(?<![A-Z\d.])\d+\.\d{3,}").explode().dropna()
    assert artefacts.empty, artefacts.head().tolist()
    temps = notes.text.str.findall(r"\b(?:T|Tmax) (\d+(?:\.\d+)?) C\b").explode().dropna()
    assert len(temps) > 100 and temps.str.fullmatch(r"\d+\.\d").all()
    labs = _lab_names(cfg)
    checked = 0
    for _, name, shown, _ in _lab_segments(notes, cfg):
        number = re.match(r"^(-?\d+(?:\.(\d+))?)\b", shown)
        if number and not labs[name].get("categorical"):
            assert len(number.group(2) or "") == labs[name]["decimals"], (name, shown)
            checked += 1
    assert checked > 200


def test_hospital_day_is_the_local_calendar_day(day):
    """Progress notes number hospital days from 1 on the local admission day, once per day, none skipped."""
    _, t = day
    prog = t["notes"][t["notes"].note_type == "progress"].copy()
    prog["day"] = prog.text.str.extract(r"\bday (\d+)\b", expand=False).astype(int)
    note_date = pd.to_datetime(prog.note_time_local.str[:10])
    admit_date = pd.to_datetime(prog.admit_time_local.str[:10])
    assert (prog.day == (note_date - admit_date).dt.days + 1).all()
    for _, days in prog.groupby("encounter_id").day:
        assert sorted(days) == list(range(2, 2 + len(days)))
    assert prog.day.max() >= 4


def test_progress_notes_are_written_on_the_morning_round(day):
    """Daily notes fall within the catalogue's local clock hours, also across a daylight-saving change."""
    cfg, t = day
    lo, hi = cfg.notes["note_types"]["progress"]["at"]["daily_local_hours"]
    local = pd.to_datetime(t["notes"][t["notes"].note_type == "progress"].note_time_local)
    hours = local.dt.hour + local.dt.minute / 60 + local.dt.second / 3600
    assert len(hours) > 50 and hours.between(lo, hi).all()


def test_tmax_is_the_maximum_of_the_last_24_hours(day):
    """Tmax in a progress note equals the highest temperature charted in the 24 h before it."""
    _, t = day
    vit = t["vitals"].dropna(subset=["temp_c"])
    by_enc = dict(tuple(vit.groupby("encounter_id")))
    checked = 0
    for note in t["notes"].itertuples():
        for value in re.findall(r"\bTmax (\d+\.\d) C", note.text):
            v = by_enc[note.encounter_id]
            window = v[(v.event_time <= note.note_time) & (v.event_time >= note.note_time - pd.Timedelta(hours=24))]
            assert float(value) == round(window.temp_c.max(), 1), (note.note_id, value)
            checked += 1
    assert checked > 20


def test_results_shown_as_current_are_from_the_last_24_hours(day):
    """A result shown is the latest available; unlabelled ones resulted within 24 h, older ones carry
    their draw time."""
    cfg, t = day
    labs = t["labs"]
    by_key = dict(tuple(labs.groupby(["encounter_id", "test_name"])))
    current = stale = 0
    culture = cfg.labs["tests"]["blood_culture"]["name"]
    for note, name, shown, drawn in _lab_segments(t["notes"], cfg):
        if name == culture:
            continue  # the culture test covers these
        rows = by_key[(note.encounter_id, name)]
        done = rows[rows.result_time <= note.note_time].sort_values("result_time")
        last = done.iloc[-1]
        decimals = cfg.labs["tests"][_lab_key(cfg, name)]["decimals"]
        assert shown.split(" ")[0] == f"{last.value:.{decimals}f}", (note.note_id, name, shown)
        fresh = last.result_time >= note.note_time - pd.Timedelta(hours=24)
        if drawn is None:
            assert fresh, (note.note_id, name)
            current += 1
        else:
            assert not fresh, (note.note_id, name, drawn)
            local = pd.Timestamp(last.event_time_local)
            assert drawn == local.strftime(cfg.notes["formats"]["drawn_time"]), (note.note_id, name, drawn)
            stale += 1
    assert current > 200 and stale > 20


def test_cultures_are_pending_until_resulted_then_quoted_as_resulted(day):
    """The latest culture collected: 'pending' until resulted, then the labs table's text as is,
    labelled with its draw time once resulted more than 24 h before."""
    cfg, t = day
    labs = t["labs"]
    culture = cfg.labs["tests"]["blood_culture"]["name"]
    cultures = dict(tuple(labs[labs.test_name == culture].groupby("encounter_id")))
    seen = {"pending": 0, "resulted": 0}
    for note, name, shown, drawn in _lab_segments(t["notes"], cfg):
        if name != culture:
            continue
        rows = cultures[note.encounter_id]
        last = rows[rows.event_time <= note.note_time].sort_values("event_time").iloc[-1]
        if shown == "pending":
            assert last.result_time > note.note_time, note.note_id
            seen["pending"] += 1
        else:
            assert last.result_time <= note.note_time and shown == f": {last.value_text}", (note.note_id, shown)
            stale = last.result_time < note.note_time - pd.Timedelta(hours=24)
            label = pd.Timestamp(last.event_time_local).strftime(cfg.notes["formats"]["drawn_time"])
            assert drawn == (label if stale else None), (note.note_id, drawn)
            seen["resulted"] += 1
    assert seen["pending"] > 0 and seen["resulted"] > 0


def test_death_summaries_are_written_at_the_death(day):
    """The discharge summary of a stay ending in death is timed at discharge_time; others up to 1 h before."""
    cfg, t = day
    summ = t["notes"][t["notes"].note_type == "discharge_summary"]
    died = summ.discharge_disposition == cfg.notes["death_disposition"]
    assert died.any()
    assert (summ.note_time[died] == summ.discharge_time[died]).all()
    before = summ.discharge_time[~died] - summ.note_time[~died]
    assert ((before >= pd.Timedelta(0)) & (before <= pd.Timedelta(hours=1))).all()
    assert (t["notes"].note_time <= t["notes"].discharge_time).all()


def _shift_key(local: pd.Series, starts: list[float]) -> pd.Series:
    """'YYYY-MM-DD/j': the local day a shift began and its number, for wall-clock times."""
    hours = local.dt.hour + local.dt.minute / 60 + local.dt.second / 3600
    j = np.searchsorted(np.asarray(starts), hours.to_numpy(), side="right") - 1
    day = local.dt.normalize() - pd.to_timedelta((j < 0).astype(int), unit="D")
    number = pd.Series(np.where(j < 0, len(starts) - 1, j), index=local.index).astype(str)
    return day.dt.strftime("%Y-%m-%d") + "/" + number


def _shift_spec(cfg):
    rota = cfg.notes["authors"]["nurse"]["rota"]
    starts = sorted(rota["shifts"].values())
    at = cfg.notes["note_types"]["nursing_shift"]["at"]
    return starts, at


def test_one_routine_nursing_note_per_shift(day):
    """Every nursing shift whose writing window lies inside the stay has exactly one routine shift note."""
    cfg, t = day
    starts, at = _shift_spec(cfg)
    notes = t["notes"]
    routine = notes[(notes.note_type == "nursing") & notes.text.str.startswith("Nursing shift note")]
    local = pd.to_datetime(routine.note_time_local)
    keys = routine.encounter_id + "@" + _shift_key(local, starts)
    assert keys.is_unique
    have = set(keys)
    expected = 0
    for e in t["enc"].itertuples():
        admit = pd.Timestamp(e.admit_time_local)
        length = e.discharge_time - e.admit_time
        day0 = admit.normalize() - pd.Timedelta(days=1)
        for k in range(length.days + 3):
            for j, start in enumerate(starts):
                begin = day0 + pd.Timedelta(days=k, hours=start)
                end = (day0 + pd.Timedelta(days=k + 1, hours=starts[0]) if j + 1 == len(starts)
                       else day0 + pd.Timedelta(days=k, hours=starts[j + 1]))
                earliest = (end - pd.Timedelta(hours=at["before_shift_end_hours"][1]) - admit)
                latest = (end - pd.Timedelta(hours=at["before_shift_end_hours"][0]) - admit)
                # wall-clock offsets: an hour of slack either side absorbs a daylight-saving change
                inside = (earliest >= pd.Timedelta(hours=at["min_hours_after_admit"] + 1)
                          and latest <= length - pd.Timedelta(hours=1))
                if inside:
                    assert f"{e.encounter_id}@{begin:%Y-%m-%d}/{j}" in have, (e.encounter_id, begin)
                    expected += 1
    assert expected > 100
    assert (notes[notes.note_type == "nursing"].text.str.startswith("Nursing shift note")).mean() < 1  # alerts remain


def test_nurses_work_shifts(day):
    """All nursing notes of one patient in one shift share a nurse; the next shift brings another."""
    cfg, t = day
    starts, _ = _shift_spec(cfg)
    nursing = t["notes"][t["notes"].note_type == "nursing"].copy()
    nursing["shift"] = _shift_key(pd.to_datetime(nursing.note_time_local), starts)
    per_shift = nursing.groupby(["encounter_id", "shift"]).author.nunique()
    assert (per_shift == 1).all()
    assert nursing.author.nunique() > 20


def _block(local_date: pd.Series, rota: dict) -> pd.Series:
    ordinal = local_date.map(lambda d: d.toordinal())
    return (ordinal - 1 - rota["first_weekday"]) // rota["block_days"]


def test_physicians_follow_a_rota(day):
    """Daily notes keep one author within a service block; the H&P is the admitting block's attending."""
    cfg, t = day
    rota = cfg.notes["authors"]["physician"]["rota"]
    notes = t["notes"]
    prog = notes[notes.note_type == "progress"].sort_values(["encounter_id", "note_time"]).copy()
    prog["block"] = _block(pd.to_datetime(prog.note_time_local).dt.date, rota)
    per_block = prog.groupby(["encounter_id", "block"]).author.nunique()
    assert (per_block == 1).all()
    stretches = prog.groupby(["encounter_id", "block"]).size()
    assert (stretches >= 3).sum() > 5  # consecutive days by one physician, not a new author daily
    assert prog.author.nunique() > 10
    hp = notes[notes.note_type == "admission_hp"].copy()
    hp["block"] = _block(pd.to_datetime(hp.admit_time_local).dt.date, rota)
    pairs = hp.merge(prog[["encounter_id", "block", "author"]].drop_duplicates(["encounter_id", "block"]),
                     on=["encounter_id", "block"], suffixes=("", "_prog"))
    assert len(pairs) > 20 and (pairs.author == pairs.author_prog).all()


def test_sentences_start_with_a_capital(day):
    """Every line and every sentence after '. ' starts with a capital; no 'overnight ago'."""
    _, t = day
    text = t["notes"].text
    starts = text.str.findall(r"(?:^|(?<=[a-z0-9)%]\. ))(\S+)", flags=re.MULTILINE).explode().dropna()
    lower = starts[starts.str.match(r"^[a-z]") & (starts.str[1:] == starts.str[1:].str.lower())]
    assert lower.empty, lower.head().tolist()
    assert not text.str.contains("overnight ago").any()


def test_units_in_prose_are_as_clinicians_write_them(day):
    """Notes say 10^3/uL and mmHg while labs.csv keeps the UCUM codes."""
    cfg, t = day
    text = t["notes"].text
    assert not text.str.contains(r"10\*3|mm\[Hg\]").any()
    assert text.str.contains("10^3/uL", regex=False).any()
    assert text.str.contains(r"BP \d+/\d+ mmHg").any()
    assert (t["labs"].unit == "10*3/uL").any()
    units = {test["unit"] for test in cfg.labs["tests"].values()}
    assert units <= set(cfg.notes["display_units"])


def test_sentence_case_keeps_words_with_inner_capitals():
    """A sentence-opening phrase is capitalised unless its first word carries its own capitals (pH)."""
    template = "Plan: {{ phrases.plan }}\nNote {{ phrases.mid }}. {{ phrases.ph }}"
    got = _sentence_cased(template, [{"plan": "fluids", "mid": "as planned", "ph": "pH 7.31 on gas"}])[0]
    assert got == {"plan": "Fluids", "mid": "as planned", "ph": "pH 7.31 on gas"}


@pytest.mark.parametrize(("edit", "where"), [
    (lambda n: n["display_units"].pop("mm[Hg]"), "notes catalogue: display_units"),
    (lambda n: n["authors"]["nurse"].update(rota={"block_days": 7, "first_weekday": 0}), "notes catalogue: authors"),
    (lambda n: n["note_types"]["nursing_shift"].update(author="physician"),
     "notes catalogue: note_types.nursing_shift.author"),
])
def test_catalogue_cross_checks_units_and_shifts(tmp_path, edit, where):
    """A unit without a display form, no shift rota, or a shift note by a role without shifts is a ConfigError."""
    path = copy_config(tmp_path)
    notes_file = path.parent / "notes" / "templates.yaml"
    notes = yaml.safe_load(notes_file.read_text())
    edit(notes)
    notes_file.write_text(yaml.safe_dump(notes, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.where == where
