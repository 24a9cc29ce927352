"""Claims in notes agree with the chart they were written against.

The checker reads a generated day back from its files (pandas, not the generator's arrays),
finds in each note the declared phrases it contains, and re-evaluates each phrase's `when:`
at the note's time with the same evaluator the note engine used.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from data_generator.claims import build_view, compile_claim
from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.pipeline import generate_day
from tests.conftest import ROOT, copy_config

DAY = dt.date(2026, 1, 15)
VITAL_COLUMNS = ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "temp_c", "o2_device", "fio2",
                 "pain_score", "care_unit")
TEXT_COLUMNS = ("o2_device", "care_unit")
# Words that make a phrase a checkable claim about the chart: a phrase using one needs a `when:`.
CLAIM_WORDS = re.compile(
    r"resolv|improv|settl|clos(ed|ing)|normalis|\brising\b|\bfalling\b|elevated|peaked|cleared|"
    r"defervesc|afebrile|off oxygen|room air|high-flow|\bNIV\b|non-invasive|\bmask\b|nasal cannula|venturi|"
    r"norepinephrine|vasopressor|"
    r"inotrop|transfus|\bICU\b|\bCCU\b|severe|moderate|\bshock\b|hypercapni|\bacidosis|hyperkalaemia|"
    r"hypoxaemi|hypotensi|\bstable\b|below 7|negative|died|death", re.IGNORECASE)


def _epoch(col: pd.Series) -> np.ndarray:
    return pd.to_datetime(col, utc=True).dt.as_unit("s").astype("int64").to_numpy()


def read_day(folder, cfg):
    """Encounters, notes and the chart view, all from the written files."""
    enc = pd.read_csv(folder / "encounters.csv", dtype=str, keep_default_na=False)
    row = {k: i for i, k in enumerate(enc["encounter_id"])}
    vit = pd.read_csv(folder / "vitals.csv", dtype={"o2_device": object, "consciousness": object,
                                                    "care_unit": object})
    lab = pd.read_csv(folder / "labs.csv", dtype={"value_text": object, "flag": str}, keep_default_na=False,
                      na_values={"value": [""]})
    notes = pd.read_json(folder / "notes.jsonl", lines=True, dtype={"note_time": str})
    by_loinc = {spec["loinc"]: name for name, spec in cfg.labs["tests"].items()}
    vitals = {"enc": vit["encounter_id"].map(row).to_numpy(), "time": _epoch(vit["event_time"]),
              **{c: vit[c].to_numpy(dtype=object if c in TEXT_COLUMNS else float) for c in VITAL_COLUMNS}}
    labs = {"enc": lab["encounter_id"].map(row).to_numpy(), "test": lab["loinc_code"].map(by_loinc).to_numpy(),
            "value": lab["value"].to_numpy(dtype=float), "flag": lab["flag"].to_numpy(),
            "collected": _epoch(lab["event_time"]), "resulted": _epoch(lab["result_time"])}
    treat = None
    if (folder / "interventions.csv").exists():
        tv = pd.read_csv(folder / "interventions.csv")
        treat = {"enc": tv["encounter_id"].map(row).to_numpy(), "kind": tv["kind"].to_numpy(),
                 "start": _epoch(tv["start_time"]), "end": _epoch(tv["end_time"])}
    encounters = {"admit": _epoch(enc["admit_time"]),
                  **{k: enc[k].to_numpy() for k in ("primary_dx_code", "outcome", "discharge_disposition",
                                                    "care_unit")}}
    return enc, notes, build_view(encounters, vitals, labs, treat)


def _pattern(text: str) -> re.Pattern:
    """A phrase as it reads in a note: literal text, each {{ expression }} any words."""
    parts = re.split(r"\{\{.*?\}\}", text)
    return re.compile(".+?".join(re.escape(p) for p in parts))


def _guarded(cfg, scenario: str, outcome: str) -> tuple:
    """(key, text, pattern, condition) for every guarded phrase a branch may say."""
    sc = cfg.scenarios[scenario]
    out = []
    for source in (sc["notes"], sc["outcomes"][outcome].get("notes", {})):
        for key, variants in source.items():
            for v in variants if key != "choices" else ():
                if isinstance(v, dict):
                    out.append((key, v["text"], _pattern(v["text"]), compile_claim(v["when"])))
    return tuple(out)


def check_claims(cfg, folder) -> pd.DataFrame:
    """One row per claim found in a note: which phrase, and whether its condition held then."""
    enc, notes, view = read_day(folder, cfg)
    row = {k: i for i, k in enumerate(enc["encounter_id"])}
    times = _epoch(notes["note_time"])
    branches = {(s, o): _guarded(cfg, s, o) for s, o in set(zip(enc["scenario"], enc["outcome"], strict=True))}
    found: dict[tuple, list] = {}  # (scenario, key, phrase) -> [(note_id, encounter row, time)]
    checks = {}
    for note_id, eid, text, t in zip(notes["note_id"], notes["encounter_id"], notes["text"], times, strict=True):
        e = row[eid]
        scenario = enc["scenario"][e]
        for key, phrase, pattern, check in branches[scenario, enc["outcome"][e]]:
            if pattern.search(text):
                found.setdefault((scenario, key, phrase), []).append((note_id, e, int(t)))
                checks[scenario, key, phrase] = check
    parts = []
    for (scenario, key, phrase), hits in found.items():
        ids, e, t = (np.array(x) for x in zip(*hits, strict=True))
        holds = checks[scenario, key, phrase](view, e, t)
        parts.append(pd.DataFrame({"note_id": ids, "scenario": scenario, "key": key, "phrase": phrase, "holds": holds}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    cfg = load_config(ROOT / "config" / "generator.yaml")
    """A day written with interventions.csv, so that claims of a treatment can be checked too."""
    return generate_day(cfg, DAY, "sample", tmp_path_factory.mktemp("claims"), encounters=600,
                        interventions=True).folder


@pytest.fixture(scope="module")
def claims(folder):
    return check_claims(load_config(ROOT / "config" / "generator.yaml"), folder)


def _latest(results: pd.DataFrame, test: str) -> list[float]:
    return results.loc[results.test_name == test, "value"].tolist()


def _within(results: pd.DataFrame, test: str, t, hours: float, spread: float) -> bool:
    """Two results or more of `test` in the `hours` before `t`, all within `spread` of each other."""
    values = _latest(results[results.result_time > t - pd.Timedelta(hours=hours)], test)
    return len(values) >= 2 and max(values) - min(values) < spread


def _rising(results: pd.DataFrame, test: str, t, hours: float, by: float) -> bool:
    """The latest result of `test` is the highest of the `hours` before `t`, and `by` or more above the first."""
    values = _latest(results[results.result_time > t - pd.Timedelta(hours=hours)], test)
    return len(values) >= 2 and values[-1] == max(values) and values[-1] - values[0] >= by


def _ends(results: pd.DataFrame, test: str, holds) -> bool:
    """`holds(first, latest)` of the results of `test` (False where there are none)."""
    values = _latest(results, test)
    return bool(values) and holds(values[0], values[-1])


# Claims the careful reader checks by hand, with pandas alone: the note's words, and what the
# results available at note time must show for them to be true.
BY_HAND = {
    "Anion gap closed": lambda r, enc, t: _latest(r, "Anion gap")[-1:] and _latest(r, "Anion gap")[-1] <= 12,
    "DKA resolved": lambda r, enc, t: (_latest(r, "Anion gap")[-1] <= 12 and _latest(r, "Bicarbonate")[-1] >= 18
                                       and _latest(r, "pH, arterial")[-1] > 7.3 and _latest(r, "Glucose")[-1] < 200),
    "Troponin rising": lambda r, enc, t: len(_latest(r, "hs-Troponin I")) >= 2,
    "rising high-sensitivity troponin": lambda r, enc, t: len(_latest(r, "hs-Troponin I")) >= 2,
    "BNP above 400": lambda r, enc, t: max(_latest(r, "BNP"), default=0) > 400,
    "Lactate cleared": lambda r, enc, t: _latest(r, "Lactate")[0] > 2 and _latest(r, "Lactate")[-1] <= 2,
    "Patient died": lambda r, enc, t: enc.discharge_disposition == "expired",
    "Haemoglobin stable on serial CBC": lambda r, enc, t: _within(r, "Hemoglobin", t, 24, 1.0),
    "haemoglobin within 1 g/dL over the last 24 hours": lambda r, enc, t: _within(r, "Hemoglobin", t, 24, 1.0),
    "Creatinine still rising on the latest BMP": lambda r, enc, t: _rising(r, "Creatinine", t, 36, 0.3),
    "Hyperkalaemia persisting": lambda r, enc, t: _ends(r, "Potassium", lambda first, last: first > 5.0 and last > 5.5),
    "Hypercapnic acidosis persisting": lambda r, enc, t: (_ends(r, "pH, arterial", lambda a, b: max(a, b) < 7.35)
                                                         and _ends(r, "PaCO2", lambda a, b: min(a, b) > 45)),
}


def test_claims_named_in_notes_hold_when_checked_by_hand(folder):
    """Gap closed, DKA resolved, rising troponin, BNP, lactate cleared, stable haemoglobin, death: true of the
    files at note time."""
    enc = pd.read_csv(folder / "encounters.csv").set_index("encounter_id")
    labs = pd.read_csv(folder / "labs.csv", parse_dates=["result_time"]).sort_values("result_time")
    notes = pd.read_json(folder / "notes.jsonl", lines=True, dtype=False)
    notes["note_time"] = pd.to_datetime(notes["note_time"], utc=True)
    by_enc = dict(tuple(labs.groupby("encounter_id")))
    seen = dict.fromkeys(BY_HAND, 0)
    for note in notes.itertuples():
        for words, holds in BY_HAND.items():
            if words in note.text:
                results = by_enc[note.encounter_id]
                assert holds(results[results.result_time <= note.note_time], enc.loc[note.encounter_id],
                             note.note_time), (note.note_id, words)
                seen[words] += 1
    assert sum(seen.values()) > 50 and seen["Anion gap closed"] > 0 and seen["Haemoglobin stable on serial CBC"] > 0, \
        seen


def test_claims_in_notes_hold_at_note_time(claims):
    """Read back from the files, at most 1% of the narrative claims contradict the chart at note time
    (claims of a treatment included: the day is written with its interventions)."""
    assert len(claims) > 500
    assert claims["phrase"].str.contains("ransfus|orepinephrine").sum() >= 20
    assert claims["scenario"].nunique() >= 8
    wrong = claims[~claims["holds"]]
    assert len(wrong) <= 0.01 * len(claims), wrong.groupby("phrase").size().sort_values().tail(5).to_dict()


def test_every_phrase_that_claims_something_carries_its_condition():
    """A phrase using claim words (resolved, rising, NIV, transfused, ICU, shock...) has a `when:`."""
    cfg = load_config(ROOT / "config" / "generator.yaml")
    unguarded = []
    for name, sc in cfg.scenarios.items():
        sources = [("notes", sc["notes"])] + [(f"outcomes.{b}.notes", o.get("notes", {}))
                                              for b, o in sc["outcomes"].items()]
        for where, source in sources:
            for key, variants in source.items():
                if key in ("choices", "plan"):
                    continue
                unguarded += [f"{name}: {where}.{key}: {v}" for v in variants
                              if isinstance(v, str) and CLAIM_WORDS.search(v)]
    assert not unguarded, unguarded[:5]


def test_every_phrase_key_has_a_fallback():
    """Each phrase key a note may use has a plain variant for when no claim holds."""
    cfg = load_config(ROOT / "config" / "generator.yaml")
    for sc in cfg.scenarios.values():
        for source in [sc["notes"]] + [o.get("notes", {}) for o in sc["outcomes"].values()]:
            for key, variants in source.items():
                assert key == "choices" or any(isinstance(v, str) for v in variants), (sc["_file"], key)


def _view():
    """A hand-made chart: one encounter admitted at t=0, vitals hourly, labs, one treatment."""
    h = 3600
    encounters = {"admit": np.array([0]), "primary_dx_code": np.array(["E10.10"]), "outcome": np.array(["x"]),
                  "discharge_disposition": np.array(["home"]), "care_unit": np.array(["MICU"])}
    vitals = {"enc": np.zeros(4, int), "time": np.array([1, 2, 3, 4]) * h,
              "sbp": np.array([80.0, 95, np.nan, 120]), "o2_device": np.array(["niv", "niv", None, "room_air"], object)}
    labs = {"enc": np.zeros(3, int), "test": np.array(["anion_gap"] * 3), "value": np.array([24.0, 16, 10]),
            "flag": np.array(["H", "N", "N"]), "collected": np.array([1, 5, 9]) * h,
            "resulted": np.array([2, 6, 10]) * h}
    treat = {"enc": np.array([0]), "kind": np.array(["norepinephrine"]), "start": np.array([2 * h]),
             "end": np.array([5 * h])}
    return build_view(encounters, vitals, labs, treat)


@pytest.mark.parametrize(("cond", "hours", "expected"), [
    ({"vital": "sbp", "stat": "latest", "op": ">=", "value": 100}, 3.5, False),   # latest charted 95 (3 h blank)
    ({"vital": "sbp", "stat": "latest", "op": ">=", "value": 100}, 4.0, True),
    ({"vital": "sbp", "stat": "min", "op": "<", "value": 90, "window_hours": 1.5}, 4.0, False),
    ({"vital": "sbp", "stat": "change", "op": ">", "value": 30}, 4.0, True),
    ({"lab": "anion_gap", "stat": "spread", "op": "<", "value": 9}, 3.0, False),   # one result: no spread
    ({"lab": "anion_gap", "stat": "spread", "op": "<", "value": 9}, 6.5, True),    # 24 and 16
    ({"lab": "anion_gap", "stat": "spread", "op": "<", "value": 9}, 10.0, False),  # 24, 16 and 10
    ({"lab": "anion_gap", "stat": "spread", "op": "<", "value": 9, "window_hours": 5}, 10.0, True),  # 16 and 10
    ({"lab": "anion_gap", "stat": "latest", "op": "<=", "value": 12}, 9.5, False),  # drawn, not yet resulted
    ({"lab": "anion_gap", "stat": "latest", "op": "<=", "value": 12}, 10.0, True),
    ({"lab": "anion_gap", "stat": "pending"}, 9.5, True),
    ({"lab": "anion_gap", "stat": "count", "op": ">=", "value": 2}, 5.9, False),
    ({"lab": "anion_gap", "stat": "flag", "in": ["H"]}, 3.0, True),
    ({"lab": "troponin_i", "stat": "resulted"}, 9.0, False),
    ({"o2_device": ["niv"], "stat": "latest"}, 3.5, True),
    ({"o2_device": ["niv"], "stat": "ever", "window_hours": 1}, 4.0, False),
    ({"intervention": "norepinephrine", "stat": "running"}, 6.0, False),
    ({"intervention": "norepinephrine", "stat": "started"}, 6.0, True),
    ({"clock": "hours_since_admission", "op": ">=", "value": 24}, 6.0, False),
    ({"all": [{"dx_code": ["E10"]}, {"not": {"care_unit": ["MED-WARD"]}}]}, 1.0, True),
    ({"any": [{"outcome": ["y"]}, {"disposition": ["expired"]}]}, 1.0, False),
    ({"at_least": 2, "of": [{"dx_code": ["E10"]}, {"outcome": ["y"]}, {"care_unit": ["MICU"]}]}, 1.0, True),
])
def test_evaluator_reads_the_chart_as_it_stood(cond, hours, expected):
    """Each term kind answers from what was charted or resulted by the note's time only."""
    assert compile_claim(cond)(_view(), np.array([0]), np.array([int(hours * 3600)])).tolist() == [expected]


def _edit_dka(tmp_path, edit):
    return copy_config(tmp_path, edit, "scenarios/dka.yaml")


@pytest.mark.parametrize(("term", "path"), [
    ({"lab": "anion_gapp", "stat": "latest", "op": "<", "value": 1}, "when.all.0.lab"),
    ({"vital": "temperature", "stat": "max", "op": ">", "value": 38}, "when.all.0.vital"),
    ({"intervention": "noradrenaline", "stat": "started"}, "when.all.0.intervention"),
    ({"outcome": ["severe_icu", "dying"]}, "when.all.0.outcome.1"),
])
def test_a_claim_naming_something_unknown_is_a_config_error(tmp_path, term, path):
    """A condition naming a lab, vital, treatment or outcome that does not exist fails at load, with its key path."""
    def edit(d):
        d["notes"]["assessment"].append({"text": "x", "when": {"all": [term]}})
    with pytest.raises(ConfigError) as err:
        load_config(_edit_dka(tmp_path, edit))
    assert "dka.yaml: notes.assessment." in err.value.where and err.value.where.endswith(path)


@pytest.mark.parametrize("term", [{"o2_device": ["nasal_canula"], "stat": "latest"}, {"disposition": ["died"]}])
def test_a_claim_naming_an_unknown_device_or_disposition_is_refused(tmp_path, term):
    """A misspelled oxygen device or disposition in a condition fails at load, naming the phrase."""
    def edit(d):
        d["notes"]["assessment"].append({"text": "x", "when": {"all": [term]}})
    with pytest.raises(ConfigError) as err:
        load_config(_edit_dka(tmp_path, edit))
    assert "dka.yaml: notes.assessment." in err.value.where


def test_a_claim_with_an_unknown_key_is_rejected_by_the_schema(tmp_path):
    """A misspelt condition key is a schema error, not a silently ignored term."""
    def edit(d):
        d["notes"]["assessment"].append({"text": "x", "when": {"lab": "ph", "stat": "latest", "op": "<",
                                                                "value": 7.3, "windw_hours": 2}})
    with pytest.raises(ConfigError) as err:
        load_config(_edit_dka(tmp_path, edit))
    assert "dka.yaml: notes.assessment" in err.value.where


def test_a_phrase_key_without_a_fallback_is_a_config_error(tmp_path):
    """A key whose every variant is guarded is refused (a note could have nothing to say)."""
    def edit(d):
        d["notes"]["assessment"] = [{"text": "x", "when": {"dx_code": ["E10"]}}]
    with pytest.raises(ConfigError, match="none is left"):
        load_config(_edit_dka(tmp_path, edit))



def test_treatment_claims_follow_the_treatment_events():
    """'Norepinephrine started ... despite fluids' is said only once a fluid bolus and then a norepinephrine
    event have started, never without them (nor with the pressor alone)."""
    from data_generator.generators.encounters import day_encounters
    from data_generator.generators.interventions import Interventions
    from data_generator.generators.notes import generate_notes
    from data_generator.generators.registry import derive_registry
    from data_generator.pipeline import chart
    from data_generator.rng import stream

    cfg = load_config(ROOT / "config" / "generator.yaml")
    registry = derive_registry(cfg, DAY)
    enc = day_encounters(cfg, DAY, "sample", registry, 400)
    _, vitals, labs, _ = chart(cfg, DAY, enc, lambda step: stream(cfg.seed, DAY, step, 0))
    septic = np.flatnonzero(enc.scenario == "sepsis")
    los = (enc.discharge[septic] - enc.admit[septic]) / 3600
    n = septic.size
    pressor = Interventions(septic, np.full(n, 2.0), los, np.full(n, "norepinephrine", object), np.full(n, "", object))
    ends = np.column_stack([np.full(n, 1.5), los]).ravel()  # a bolus at 1-1.5 h, the pressor from 2 h
    kinds = np.tile(np.array(["fluid_bolus", "norepinephrine"], object), n)
    fluids_first = Interventions(np.repeat(septic, 2), np.tile([1.0, 2.0], n), ends, kinds, np.full(2 * n, "", object))

    def said(interventions):
        notes = generate_notes(cfg, DAY, registry, enc, vitals, labs, stream(cfg.seed, DAY, "notes", 0),
                               interventions=interventions)
        return [t for t in notes["text"] if "Norepinephrine started" in t]
    assert said(None) == []
    assert said(pressor) == []
    assert len(said(fluids_first)) > 0


def test_the_drug_a_history_names_agrees_with_the_inr(folder):
    """A GI bleed's history names warfarin only with an arrival INR of 1.8 or more, and an NSAID or
    aspirin only with a lower one (a per-stay choice with a condition, checked by hand); never a
    drug whose indication the history does not list (a DOAC, dual antiplatelet therapy)."""
    enc = pd.read_csv(folder / "encounters.csv").set_index("encounter_id")
    labs = pd.read_csv(folder / "labs.csv").sort_values("event_time")
    inr = labs[labs.test_name == "INR"].groupby("encounter_id").value.first()
    notes = pd.read_json(folder / "notes.jsonl", lines=True)
    hp = notes[(notes.note_type == "admission_hp") & notes.encounter_id.map(enc.scenario).eq("gi_bleed")]
    assert not hp.text.str.contains("apixaban|rivaroxaban|clopidogrel").any()
    drug = hp.text.str.extract(r"(warfarin|ibuprofen|naproxen|aspirin)")[0]
    first = hp.encounter_id.map(inr)
    assert drug.notna().sum() >= 30 and (drug == "warfarin").sum() >= 2
    assert (first[drug == "warfarin"] >= 1.8).all()
    assert (first[drug.notna() & (drug != "warfarin")] < 1.8).all()


def test_a_choice_condition_naming_an_unknown_lab_is_a_config_error(tmp_path):
    """A per-stay choice's `when:` is checked like a phrase's: an unknown lab fails at load, naming the choice."""
    def edit(d):
        when = {"lab": "crp_level", "stat": "first", "op": ">", "value": 10}
        d["notes"].setdefault("choices", {})["trigger"] = ["missed insulin", {"text": "infection", "when": when}]
    with pytest.raises(ConfigError) as err:
        load_config(_edit_dka(tmp_path, edit))
    assert "dka.yaml: notes.choices.trigger.1.when" in err.value.where


def test_cultures_grow_the_organism_the_diagnosis_names(folder):
    """One organism per stay; a sepsis stay coded for an organism (A41.51 E. coli, A41.01 S. aureus,
    A40.3 S. pneumoniae) grows exactly that one (unless the stay ends before it could flag: never a
    final negative), an unspecified-organism stay (A41.9) grows none."""
    enc = pd.read_csv(folder / "encounters.csv").set_index("encounter_id")
    labs = pd.read_csv(folder / "labs.csv", keep_default_na=False)
    cult = labs[labs.test_name == "Blood culture"].assign(dx=lambda t: t.encounter_id.map(enc.primary_dx_code),
                                                          scenario=lambda t: t.encounter_id.map(enc.scenario))
    grown = cult[cult.flag == "A"]
    assert grown.groupby("encounter_id").value_text.nunique().max() == 1
    sepsis = cult[cult.scenario == "sepsis"]
    named = {"A41.51": "Escherichia coli", "A41.01": "Staphylococcus aureus", "A40.3": "Streptococcus pneumoniae"}
    for code, organism in named.items():
        mine = sepsis[sepsis.dx == code]
        grew = mine.groupby("encounter_id").flag.apply(lambda f: (f == "A").any())
        final_negative = mine.groupby("encounter_id").value_text.apply(lambda v: (v == "No growth at 5 days").any())
        assert not (final_negative & ~grew).any(), code  # still growing at discharge (a death within hours) at most
        assert grew.mean() >= 0.8, code
        assert mine[mine.flag == "A"].value_text.str.endswith(organism).all(), code
    assert (sepsis[sepsis.dx == "A41.9"].flag != "A").all()
    assert sepsis.dx.isin(named).sum() >= 10


def test_every_heart_failure_plan_is_charted(folder):
    """Every heart failure admission note plans an IV loop diuretic: every such stay has
    furosemide in interventions.csv (it was only given for a BNP above 400)."""
    enc = pd.read_csv(folder / "encounters.csv").set_index("encounter_id")
    given = pd.read_csv(folder / "interventions.csv")
    notes = pd.read_json(folder / "notes.jsonl", lines=True)
    hf = enc.index[enc.scenario == "heart_failure"]
    plans = notes[notes.encounter_id.isin(hf) & (notes.note_type == "admission_hp")]
    assert len(plans) >= 10 and plans.text.str.contains("furosemide|loop diuretic").all()
    assert set(hf) <= set(given[given.kind == "furosemide"].encounter_id)


def _hb_phrase_more_often(d):
    for v in d["notes"]["course"]:
        if isinstance(v, dict) and v["text"].startswith("Haemoglobin below 7 g/dL"):
            v["when"]["value"] = 9.0  # latest haemoglobin below 9, not 7


def _faster_shock(d):
    d["vitals"]["heart_rate"]["at"]["shock"] += 7


def _by_scenario(folder) -> dict[str, pd.DataFrame]:
    """Vitals, labs and notes read back, each row with its encounter's scenario (IDs left out:
    a changed row count in one scenario renumbers the rows after it)."""
    scenario = pd.read_csv(folder / "encounters.csv", dtype=str).set_index("encounter_id")["scenario"]
    tables = {"vitals": pd.read_csv(folder / "vitals.csv", dtype=str),
              "labs": pd.read_csv(folder / "labs.csv", dtype=str),
              "notes": pd.read_json(folder / "notes.jsonl", lines=True, dtype=False)}
    return {name: t.drop(columns=[c for c in t.columns if c.endswith("_id") and c not in ("encounter_id",)])
            .assign(scenario=t["encounter_id"].map(scenario)) for name, t in tables.items()}


@pytest.mark.parametrize(("file", "edit", "scenario"), [
    ("scenarios/gi_bleed.yaml", _hb_phrase_more_often, "gi_bleed"),
    ("scenarios/sepsis.yaml", _faster_shock, "sepsis"),
])
def test_editing_one_scenario_changes_that_scenarios_rows_alone(tmp_path, file, edit, scenario):
    """A phrase licensed more often, or a vital's pull changed, changes that scenario's vitals,
    labs or notes and no other scenario's: each scenario's chart is drawn apart, and each pick a
    note makes takes one number of the chunk's stream whatever the number of variants."""
    days = []
    configs = {"shipped": ROOT / "config" / "generator.yaml", "edited": copy_config(tmp_path, edit, file)}
    for name, config in configs.items():
        (tmp_path / name).mkdir()
        days.append(_by_scenario(generate_day(load_config(config), DAY, "sample", tmp_path / name,
                                              encounters=400).folder))
    shipped, edited = days
    changed = set()
    for table in ("vitals", "labs", "notes"):
        for sc, rows in shipped[table].groupby("scenario"):
            other = edited[table][edited[table]["scenario"] == sc]
            if not rows.reset_index(drop=True).equals(other.reset_index(drop=True)):
                changed.add((table, sc))
    assert changed and {sc for _, sc in changed} == {scenario}, changed


def test_a_result_that_would_come_after_discharge_is_not_in_the_chart(folder):
    """Read back from the files: every result but a culture's came before the stay ended, none
    stamped at the discharge second (a culture shows the last report the stay lived to see)."""
    enc = pd.read_csv(folder / "encounters.csv", parse_dates=["discharge_time"]).set_index("encounter_id")
    labs = pd.read_csv(folder / "labs.csv", parse_dates=["event_time", "result_time"])
    discharge = labs["encounter_id"].map(enc["discharge_time"])
    culture = labs["test_name"] == "Blood culture"
    assert (labs["result_time"] <= discharge).all() and (labs["event_time"] < labs["result_time"]).all()
    assert (labs.loc[~culture, "result_time"] < discharge[~culture]).all()
    assert (~culture).sum() > 10_000 and (discharge - labs["result_time"]).dt.total_seconds().lt(3600).any()
