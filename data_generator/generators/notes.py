"""Step 6: clinical notes, rendered from templates with values taken from the chart.

A note's context holds only what had happened by its `note_time`: vitals charted at or
before it and lab results available at or before it. Templates (Jinja2, sandboxed, strict
about undefined names) come from the notes catalogue; the scenario and its outcome branch
supply the phrases, so the narrative follows the branch the patient is on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np
from faker import Faker
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.labs import Labs
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import condition_mask
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
def _authors(seed: int, locale: str, role: str, count: int, suffix: str) -> tuple[str, ...]:
    fake = Faker(locale)
    fake.seed_instance(int_seed(seed, "faker", "authors", role))
    return tuple(f"{fake.first_name()} {fake.last_name()}{suffix}" for _ in range(count))


def _schedule(cfg: Config, date: dt.date, enc: Encounters, vitals: Vitals,
              rng: np.random.Generator) -> list[Note]:
    notes: list[Note] = []
    los = (enc.discharge - enc.admit) / HOUR
    admit_clock = (enc.admit - local_midnight(date, cfg.tz)) / HOUR
    for note_type, spec in cfg.notes["note_types"].items():
        at = spec["at"]
        if "after_admit_hours" in at:
            h = np.minimum(rng.uniform(*at["after_admit_hours"], len(enc)), los)
            notes += [Note(i, float(h[i]), note_type) for i in range(len(enc))]
        elif "before_discharge_hours" in at:
            h = np.maximum(los - rng.uniform(*at["before_discharge_hours"], len(enc)), 0)
            notes += [Note(i, float(h[i]), note_type) for i in range(len(enc))]
        elif "daily_local_hours" in at:
            for i in range(len(enc)):
                for day in range(1, int(los[i] // 24) + 2):
                    h = day * 24 - admit_clock[i] + rng.uniform(*at["daily_local_hours"])
                    if h < los[i] - at["min_hours_before_discharge"]:
                        notes.append(Note(i, float(h), note_type))
        elif "when" in at:
            hit = np.flatnonzero(condition_mask(at["when"], vitals.table))
            count: dict[int, int] = {}
            last: dict[int, float] = {}
            for j in hit:
                e, h = int(vitals.enc[j]), float(vitals.hours[j])
                if count.get(e, 0) >= at["max"] or h - last.get(e, -1e9) < 4:
                    continue
                count[e], last[e] = count.get(e, 0) + 1, h
                delay = rng.uniform(*at["delay_minutes"]) / 60
                notes.append(Note(e, min(h + delay, float(los[e])), note_type))
    notes.sort(key=lambda n: (n.enc, n.hours, n.note_type))
    return notes


class _Chart:
    """Per-encounter lookups of what had been charted or resulted by a given hour."""

    def __init__(self, cfg: Config, vitals: Vitals, labs: Labs):
        self.cfg = cfg
        self.v = vitals
        self.l = labs
        self.v_start = np.searchsorted(vitals.enc, np.arange(vitals.enc.max() + 2 if vitals.enc.size else 1))
        order = np.lexsort((labs.result_hours, labs.enc))
        self.l_order = order
        self.l_enc = labs.enc[order]
        self.l_start = np.searchsorted(self.l_enc, np.arange(labs.enc.max() + 2 if labs.enc.size else 1))

    def _vital_rows(self, e: int, hours: float) -> np.ndarray:
        if e + 1 >= self.v_start.size:
            return np.zeros(0, np.int64)
        lo, hi = self.v_start[e], self.v_start[e + 1]
        rows = np.arange(lo, hi)
        return rows[self.v.hours[rows] <= hours]

    def vitals(self, e: int, hours: float) -> tuple[dict, dict, dict]:
        rows = self._vital_rows(e, hours)
        first, latest, worst = {}, {}, {}
        t = self.v.table
        for key in VITAL_KEYS:
            col = t[key][rows]
            present = np.flatnonzero([x is not None and x == x for x in col])
            if present.size == 0:
                continue
            first[key] = _plain(col[present[0]])
            latest[key] = _plain(col[present[-1]])
            if key in ("temp_c", "heart_rate", "resp_rate"):
                worst[key] = _plain(max(col[present]))
            elif key in ("sbp", "map", "spo2"):
                worst[key] = _plain(min(col[present]))
        if rows.size:
            first = self._same_set(rows[0])
        return first, latest, worst

    def _same_set(self, row: int) -> dict:
        t = self.v.table
        return {k: _plain(t[k][row]) for k in VITAL_KEYS
                if t[k][row] is not None and t[k][row] == t[k][row]}

    def labs(self, e: int, hours: float) -> dict:
        if e + 1 >= self.l_start.size:
            return {}
        rows = self.l_order[self.l_start[e]:self.l_start[e + 1]]
        rows = rows[self.l.result_hours[rows] <= hours]
        t = self.l.table
        out = {}
        for r in rows:  # later results overwrite earlier ones
            test = self.l.test[r]
            spec = self.cfg.labs["tests"][test]
            value = t["value"][r]
            out[test] = {"name": spec["name"], "unit": spec["unit"], "flag": t["flag"][r],
                         "value": None if value != value else _plain(value),
                         "text": t["value_text"][r]}
        return out


def _plain(x):
    """numpy scalars as plain Python values for templates."""
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


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


def generate_notes(cfg: Config, date: dt.date, registry: Registry, enc: Encounters,
                   vitals: Vitals, labs: Labs, rng: np.random.Generator) -> dict[str, np.ndarray]:
    notes = _schedule(cfg, date, enc, vitals, rng)
    chart = _Chart(cfg, vitals, labs)
    vitals_line, labs_line = _formatters(cfg)
    catalogue = cfg.notes
    locale = cfg.generator["hospital"]["locale"]
    authors = {role: _authors(cfg.seed, locale, role, a["count"], a["suffix"])
               for role, a in catalogue["authors"].items()}
    sex_words = catalogue["sex_words"]
    patient_row = {pid: i for i, pid in enumerate(registry.table["patient_id"].tolist())}
    rows = {k: [] for k in ("note_time", "note_type", "author", "text", "enc")}
    phrase_cache: dict[int, dict] = {}
    for note in notes:
        e = note.enc
        scenario, outcome = enc.scenario[e], enc.outcome[e]
        sc = cfg.scenarios[scenario]
        p = patient_row[enc.table["patient_id"][e]]
        sex = registry.table["sex"][p]
        first, latest, worst = chart.vitals(e, note.hours)
        context = {
            "patient": {"age": int(registry.age_years[p]), **sex_words[sex]},
            "encounter": {
                "dx_code": enc.table["primary_dx_code"][e], "dx_desc": enc.table["primary_dx_desc"][e],
                "scenario": sc["title"], "outcome": outcome, "care_unit": enc.table["care_unit"][e],
                "disposition_text": catalogue["dispositions"][enc.table["discharge_disposition"][e]],
                "los_days": f"{(enc.discharge[e] - enc.admit[e]) / 86400:.1f}",
            },
            "first": first, "latest": latest, "worst": worst,
            "lab": chart.labs(e, note.hours),
            "note_day": int(note.hours // 24) + 1,
            "vitals_line": vitals_line, "labs_line": labs_line,
        }
        if e not in phrase_cache:
            choices = {k: v[rng.integers(len(v))] for k, v in sc["notes"].get("choices", {}).items()}
            phrase_cache[e] = choices
        phrases = {}
        branch_notes = sc["outcomes"][outcome].get("notes", {})
        for key, variants in {**sc["notes"], **branch_notes}.items():
            if key == "choices":
                continue
            text = variants[rng.integers(len(variants))]
            phrases[key] = _template(text).render(**context, **phrase_cache[e])
        spec = catalogue["note_types"][note.note_type]
        template = spec["templates"][rng.integers(len(spec["templates"]))]
        role_authors = authors[spec["author"]]
        text = _template(template).render(**context, phrases=phrases,
                                          author=role_authors[0]).strip()
        rows["enc"].append(e)
        rows["note_time"].append(enc.admit[e] + int(round(note.hours * HOUR)))
        rows["note_type"].append(note.note_type)
        rows["author"].append(role_authors[rng.integers(len(role_authors))])
        rows["text"].append(text)
    e = np.asarray(rows["enc"], dtype=np.int64)
    n = e.size
    return {
        "note_id": np.strings.add(f"NOTE-{date:%Y%m%d}-", np.strings.zfill(np.arange(1, n + 1).astype(str), 6)),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "note_time": np.minimum(np.asarray(rows["note_time"], dtype=np.int64), enc.discharge[e]),
        "note_type": np.asarray(rows["note_type"], dtype=object),
        "author": np.asarray(rows["author"], dtype=object),
        "text": np.asarray(rows["text"], dtype=object),
    }
