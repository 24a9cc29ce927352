"""Step 6: clinical notes, rendered from templates with values taken from the chart.

A note's context holds only what had happened by its `note_time`: vitals charted at or
before it and lab results available at or before it. Templates (Jinja2, sandboxed, strict
about undefined names) come from the notes catalogue; the scenario and its outcome branch
supply the phrases, so the narrative follows the branch the patient is on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

import numpy as np
from faker import Faker
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from data_generator.claims import ChartView, build_view, eligible, phrase_list
from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.interventions import Interventions
from data_generator.generators.labs import Labs
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import condition_mask, firings, row_ids
from data_generator.generators.vitals import Vitals
from data_generator.rng import int_seed
from data_generator.timeutil import HOUR, local_midnight

VITAL_KEYS = ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "temp_c", "o2_device", "fio2",
              "consciousness", "pain_score")


@dataclass(frozen=True)
class Note:
    enc: int
    hours: float
    note_type: str


def environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                         trim_blocks=False, keep_trailing_newline=False)


@cache
def _template(text: str):
    return environment().from_string(text)


@cache
def phrase_keys(template: str) -> tuple[str, ...]:
    """The phrases a note template uses, in order of first use."""
    return tuple(dict.fromkeys(re.findall(r"phrases\.([a-z_][a-z0-9_]*)", template)))


def _render_text(text: str, context: dict, extra: dict) -> str:
    """A phrase: plain text as is, a template rendered with the note's context."""
    if "{" not in text:
        return text
    return _template(text).render(**context, **extra)


@cache
def _authors(seed: int, locale: str, role: str, count: int, suffix: str) -> tuple[str, ...]:
    fake = Faker(locale)
    fake.seed_instance(int_seed(seed, "faker", "authors", role))
    return tuple(f"{fake.first_name()} {fake.last_name()}{suffix}" for _ in range(count))


def note_types(cfg: Config, scenario: str) -> dict[str, dict]:
    """The catalogue's note types plus the scenario's own (e.g. an operative note)."""
    return {**cfg.notes["note_types"], **cfg.scenarios[scenario].get("note_types", {})}


def _schedule(cfg: Config, date: dt.date, enc: Encounters, vitals: Vitals,
              rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    los = (enc.discharge - enc.admit) / HOUR
    admit_clock = (enc.admit - local_midnight(date, cfg.tz)) / HOUR
    for scenario in sorted(set(enc.scenario.tolist())):
        rows = np.flatnonzero(enc.scenario == scenario)
        for note_type, spec in note_types(cfg, scenario).items():
            notes += _timed(note_type, spec["at"], rows, los, admit_clock, vitals, rng)
    notes.sort(key=lambda n: (n.enc, n.hours, n.note_type))
    return notes


WORST_HIGH = ("temp_c", "heart_rate", "resp_rate")
WORST_LOW = ("sbp", "map", "spo2")
_SHIFT = 1e4  # larger than any vital value: keeps running extremes inside each encounter


def _present(col: np.ndarray) -> np.ndarray:
    if col.dtype == object:
        return np.not_equal(col, None).astype(bool)
    return ~np.isnan(col)


def _timed(note_type: str, at: dict, rows: np.ndarray, los: np.ndarray, admit_clock: np.ndarray,
           vitals: Vitals, rng: np.random.Generator) -> list[Note]:
    """When notes of one type are written for encounters `rows`."""
    if "after_admit_hours" in at:
        h = np.minimum(rng.uniform(*at["after_admit_hours"], rows.size), los[rows])
        return [Note(int(i), float(x), note_type) for i, x in zip(rows, h, strict=True)]
    if "before_discharge_hours" in at:
        h = np.maximum(los[rows] - rng.uniform(*at["before_discharge_hours"], rows.size), 0)
        return [Note(int(i), float(x), note_type) for i, x in zip(rows, h, strict=True)]
    if "daily_local_hours" in at:
        out = []
        for i in rows.tolist():
            for day in range(1, int(los[i] // 24) + 2):
                h = day * 24 - admit_clock[i] + rng.uniform(*at["daily_local_hours"])
                if h < los[i] - at["min_hours_before_discharge"]:
                    out.append(Note(i, float(h), note_type))
        return out
    hit = condition_mask(at["when"], vitals.table) & np.isin(vitals.enc, rows)
    owner, hours = firings(vitals.enc, vitals.hours, hit, at["max"], at["min_gap_hours"])
    delay = rng.uniform(*at["delay_minutes"], owner.size) / 60
    return [Note(int(e), float(min(h + d, los[e])), note_type)
            for e, h, d in zip(owner, hours, delay, strict=True)]


class _Chart:
    """What had been charted or resulted by a given hour, precomputed once for all notes.

    Vitals are sorted by encounter then time, so for each column a forward-filled index of the
    last charted value and a running extreme (reset at each encounter) answer every note's
    question with one lookup. Lab results are grouped by encounter and test, sorted by the time
    they became available.
    """

    def __init__(self, cfg: Config, vitals: Vitals, labs: Labs, n_enc: int):
        self.cfg = cfg
        v = vitals
        self.v_hours = v.hours
        self.v_start = np.searchsorted(v.enc, np.arange(n_enc + 1))
        self.v_key = v.enc * 1e6 + v.hours
        rows = np.arange(v.enc.size)
        group_start = self.v_start[v.enc]
        self.values, self.last, self.worst = {}, {}, {}
        for key in VITAL_KEYS:
            col = v.table[key]
            present = _present(col)
            self.values[key] = np.where(present, col, None).tolist()
            last = np.maximum.accumulate(np.where(present, rows, -1)) if rows.size else rows
            self.last[key] = np.where(last >= group_start, last, -1)
            if key in WORST_HIGH or key in WORST_LOW:
                sign = 1.0 if key in WORST_HIGH else -1.0
                clean = np.where(present, sign * np.nan_to_num(col.astype(float)), -5000.0)
                shifted = clean + v.enc * _SHIFT
                run = (np.maximum.accumulate(shifted) if rows.size else shifted) - v.enc * _SHIFT
                self.worst[key] = np.where(run > -4000, sign * run, np.nan)
        rank = _test_rank(cfg, labs.test)
        order = np.lexsort((labs.result_hours, rank, labs.enc))
        self.l_rows = order
        self.l_hours = labs.result_hours[order].tolist()
        enc_test = labs.enc[order] * 1000 + rank[order]
        keys, starts = np.unique(enc_test, return_index=True)
        ends = np.append(starts[1:], enc_test.size)
        self.l_segments: dict[int, list] = {}
        for k, a, b in zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True):
            self.l_segments.setdefault(k // 1000, []).append((a, b))
        t = labs.table
        self.l_info = [
            (labs.test[r], float(t["value"][r]) if t["value"][r] == t["value"][r] else None,
             t["value_text"][r], t["flag"][r]) for r in order.tolist()]

    def vitals(self, e: int, hours: float) -> tuple[dict, dict, dict]:
        lo = int(self.v_start[e])
        idx = int(np.searchsorted(self.v_key, e * 1e6 + hours, side="right")) - 1
        if idx < lo:
            return {}, {}, {}
        first = {k: self.values[k][lo] for k in VITAL_KEYS if self.values[k][lo] is not None}
        latest, worst = {}, {}
        for key in VITAL_KEYS:
            j = self.last[key][idx]
            if j >= lo:
                latest[key] = self.values[key][j]
            if key in self.worst and self.worst[key][idx] == self.worst[key][idx]:
                worst[key] = float(self.worst[key][idx])
        return first, latest, worst

    def labs(self, e: int, hours: float) -> dict:
        tests = self.cfg.labs["tests"]
        out = {}
        for a, b in self.l_segments.get(e, ()):
            k = bisect.bisect_right(self.l_hours, hours, a, b)
            if k > a:
                test, value, text, flag = self.l_info[k - 1]
                spec = tests[test]
                out[test] = {"name": spec["name"], "unit": spec["unit"], "flag": flag,
                             "value": value, "text": text}
        return out


def _test_rank(cfg: Config, tests: np.ndarray) -> np.ndarray:
    rank = {name: i for i, name in enumerate(cfg.labs["tests"])}
    return np.array([rank[t] for t in tests.tolist()], dtype=np.int64)


def _formatters(cfg: Config):
    fmt = cfg.notes["formats"]
    dev = cfg.notes["o2_devices"]
    decimals = {k: cfg.vitals["vitals"][k]["decimals"] for k in cfg.vitals["vitals"]}
    decimals.update(map=0, fio2=2)

    def num(key, value):
        d = decimals.get(key, 0)
        return f"{value:.{d}f}"

    def vitals_line(v: dict) -> str:
        parts = []
        if "heart_rate" in v:
            parts.append(fmt["vitals"]["heart_rate"].format(v=num("heart_rate", v["heart_rate"])))
        if "sbp" in v and "dbp" in v:
            parts.append(fmt["vitals"]["bp"].format(sbp=num("sbp", v["sbp"]), dbp=num("dbp", v["dbp"])))
        if "resp_rate" in v:
            parts.append(fmt["vitals"]["resp_rate"].format(v=num("resp_rate", v["resp_rate"])))
        if "spo2" in v:
            s = fmt["vitals"]["spo2"].format(v=num("spo2", v["spo2"]))
            if "o2_device" in v:
                s += " " + fmt["vitals"]["o2"].format(device=dev[v["o2_device"]])
            parts.append(s)
        if "temp_c" in v:
            parts.append(fmt["vitals"]["temp_c"].format(v=num("temp_c", v["temp_c"])))
        return ", ".join(parts) if parts else "not yet charted"

    def labs_line(labs: dict) -> str:
        out = []
        for test, r in labs.items():
            d = cfg.labs["tests"][test]["decimals"] if r["value"] is not None else 0
            value = f"{r['value']:.{d}f}" if r["value"] is not None else r["text"]
            out.append(fmt["lab"].format(name=r["name"], value=value, unit=r["unit"]).strip())
        return "; ".join(out)

    return vitals_line, labs_line


NOTE_CONTEXT = ("patient", "encounter", "first", "latest", "worst", "lab", "note_day", "vitals_line", "labs_line",
                "phrases", "author")  # every template sees these (config cross-checks templates against them)


def _context(cfg: Config, registry: Registry, enc: Encounters, chart: _Chart, e: int, hours: float,
             helpers: dict) -> dict:
    """What a note written `hours` into encounter `e` may quote: only what had happened by then."""
    p = enc.patient_index[e]
    first, latest, worst = chart.vitals(e, hours)
    return {
        "patient": {"age": int(registry.age_years[p]), **cfg.notes["sex_words"][registry.table["sex"][p]]},
        "encounter": {
            "dx_code": enc.table["primary_dx_code"][e], "dx_desc": enc.table["primary_dx_desc"][e],
            "scenario": cfg.scenarios[enc.scenario[e]]["title"], "outcome": enc.outcome[e],
            "care_unit": enc.table["care_unit"][e],
            "disposition_text": cfg.notes["dispositions"][enc.table["discharge_disposition"][e]],
            "los_days": f"{(enc.discharge[e] - enc.admit[e]) / 86400:.1f}",
        },
        "first": first, "latest": latest, "worst": worst,
        "lab": chart.labs(e, hours),
        "note_day": int(hours // 24) + 1,
        **helpers,
    }


def claim_view(enc: Encounters, vitals: Vitals, labs: Labs, interventions: Interventions) -> ChartView:
    """The chart as claim conditions read it, from the same columns the files are written from."""
    t = enc.table
    encounters = {"admit": enc.admit, "outcome": enc.outcome,
                  **{k: t[k] for k in ("primary_dx_code", "discharge_disposition", "care_unit")}}
    v = {"enc": vitals.enc, "time": vitals.table["event_time"],
         **{k: vitals.table[k] for k in VITAL_KEYS if k != "consciousness"}}
    lab = {"enc": labs.enc, "test": labs.test, "value": labs.table["value"], "flag": labs.table["flag"],
           "collected": labs.table["event_time"], "resulted": labs.table["result_time"]}
    treat = {"enc": interventions.enc, "kind": interventions.kind,
             "start": enc.admit[interventions.enc] + np.round(interventions.hours * HOUR).astype(np.int64),
             "end": enc.admit[interventions.enc] + np.round(interventions.end_hours * HOUR).astype(np.int64)}
    return build_view(encounters, v, lab, treat)


def _phrase_plan(cfg: Config, scenario: str, outcome: str, note_type: str) -> list[tuple[tuple, list]]:
    """The phrase lists a note of this branch and type draws from, each named by where it is
    declared (the branch's own list, or the scenario's shared by every branch)."""
    templates = note_types(cfg, scenario)[note_type]["templates"]
    branch = cfg.scenarios[scenario]["outcomes"][outcome].get("notes", {})
    out = []
    for key in dict.fromkeys(k for t in templates for k in phrase_keys(t)):
        if key in branch:
            out.append(((scenario, key, outcome), branch[key]))
        else:
            out.append(((scenario, key, ""), cfg.scenarios[scenario]["notes"][key]))
    return out


def _licensed(cfg: Config, enc: Encounters, notes: list[Note], view: ChartView) -> list[dict[str, list[str]]]:
    """For each note, by phrase key, the variants the chart at its time licenses (claims whose
    condition holds, else the fallbacks); each variant list is evaluated for all its notes at once."""
    out: list[dict[str, list[str]]] = [{} for _ in notes]
    if not notes:
        return out
    e = np.array([n.enc for n in notes], dtype=np.int64)
    hours = np.array([n.hours for n in notes])
    when = np.minimum(enc.admit[e] + np.round(hours * HOUR).astype(np.int64), enc.discharge[e])
    plan: dict[tuple[str, str, str], list[tuple[tuple, list]]] = {}  # (scenario, outcome, type) -> (group, variants)
    groups: dict[tuple, tuple[list, list[int]]] = {}
    scenario, outcome = enc.scenario.tolist(), enc.outcome.tolist()
    for i, n in enumerate(notes):
        branch_key = (scenario[n.enc], outcome[n.enc], n.note_type)
        if branch_key not in plan:
            plan[branch_key] = _phrase_plan(cfg, *branch_key)
        for group, variants in plan[branch_key]:
            groups.setdefault(group, (variants, []))[1].append(i)
    for (_, key, _), (variants, idx) in groups.items():
        rows = np.asarray(idx)
        for i, pool in zip(idx, eligible(phrase_list(variants), view, e[rows], when[rows]), strict=True):
            out[i][key] = pool
    return out


def generate_notes(cfg: Config, date: dt.date, registry: Registry, enc: Encounters,
                   vitals: Vitals, labs: Labs, rng: np.random.Generator, first_id: int = 1,
                   interventions: Interventions | None = None) -> dict[str, np.ndarray]:
    notes = _schedule(cfg, date, enc, vitals, rng)
    view = claim_view(enc, vitals, labs, interventions if interventions is not None else Interventions.none())
    licensed = _licensed(cfg, enc, notes, view)  # what the chart at each note's time lets it say
    chart = _Chart(cfg, vitals, labs, len(enc))
    vitals_line, labs_line = _formatters(cfg)
    helpers = {"vitals_line": vitals_line, "labs_line": labs_line}
    catalogue = cfg.notes
    locale = cfg.generator["hospital"]["locale"]
    authors = {role: _authors(cfg.seed, locale, role, a["count"], a["suffix"])
               for role, a in catalogue["authors"].items()}
    rows = {k: [] for k in ("note_time", "note_type", "author", "text", "enc")}
    phrase_cache: dict[int, dict] = {}
    history_cache: dict[int, list] = {}
    for note, allowed in zip(notes, licensed, strict=True):
        e = note.enc
        scenario = enc.scenario[e]
        sc = cfg.scenarios[scenario]
        context = _context(cfg, registry, enc, chart, e, note.hours, helpers)
        if e not in phrase_cache:  # per-encounter picks: the source, the history
            phrase_cache[e] = {k: v[rng.integers(len(v))] for k, v in sc["notes"].get("choices", {}).items()}
            history = sc["population"].get("comorbidities", [])
            history_cache[e] = [h for h in history if rng.random() < catalogue["comorbidity_share"]]
        context["patient"]["comorbidities"] = history_cache[e]
        spec = note_types(cfg, scenario)[note.note_type]
        template = spec["templates"][rng.integers(len(spec["templates"]))]
        phrases = {}
        for key in phrase_keys(template):
            said = allowed[key]
            phrases[key] = _render_text(said[rng.integers(len(said))], context, phrase_cache[e])
        role_authors = authors[spec["author"]]
        author = role_authors[rng.integers(len(role_authors))]
        text = _template(template).render(**context, **phrase_cache[e], phrases=phrases,
                                          author=author).strip()
        rows["enc"].append(e)
        rows["note_time"].append(enc.admit[e] + int(round(note.hours * HOUR)))
        rows["note_type"].append(note.note_type)
        rows["author"].append(author)
        rows["text"].append(text)
    e = np.asarray(rows["enc"], dtype=np.int64)
    n = e.size
    return {
        "note_id": row_ids("NOTE", date, first_id, n, 6),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "note_time": np.minimum(np.asarray(rows["note_time"], dtype=np.int64), enc.discharge[e]),
        "note_type": np.asarray(rows["note_type"], dtype=object),
        "author": np.asarray(rows["author"], dtype=object),
        "text": np.asarray(rows["text"], dtype=object),
    }
