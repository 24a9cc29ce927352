"""Step 6: clinical notes, rendered from templates with values taken from the chart.

A note's context holds only what had happened by its `note_time`: vitals charted at or
before it and lab results available at or before it. Templates (Jinja2, sandboxed, strict
about undefined names) come from the notes catalogue; the scenario and its outcome branch
supply the phrases, so the narrative follows the branch the patient is on. What a note may
quote of the chart is indexed in note_chart.py; what each note draws and its rendering, many
notes per call, are in note_text.py; the names a template may use, and its sandbox, are in
note_context.py (the config cross-check reads them there too).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import NamedTuple

import numpy as np

from data_generator.claims import ChartView, build_view, eligible, phrase_list
from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.interventions import Interventions
from data_generator.generators.labs import Labs
from data_generator.generators.note_chart import Chart, Prose
from data_generator.generators.note_text import draws, render_notes, render_phrases
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import condition_mask, firings, table_ids
from data_generator.generators.vitals import Vitals
from data_generator.note_context import VITAL_KEYS, phrase_keys, template_names
from data_generator.rng import int_seed
from data_generator.timeutil import DAY, HOUR, local_midnight


class Note(NamedTuple):
    """A note to write (notes sort by encounter, then time, then type)."""
    enc: int
    hours: float
    note_type: str


@cache
def _authors(seed: int, locale: str, role: str, count: int, suffix: str) -> tuple[str, ...]:
    from faker import Faker  # imported when first needed: it takes 30 ms to import

    fake = Faker(locale)
    fake.seed_instance(int_seed(seed, "faker", "authors", role))
    return tuple(f"{fake.first_name()} {fake.last_name()}{suffix}" for _ in range(count))


def note_types(cfg: Config, scenario: str) -> dict[str, dict]:
    """The catalogue's note types plus the scenario's own (e.g. an operative note)."""
    return {**cfg.notes["note_types"], **cfg.scenarios[scenario].get("note_types", {})}


class _Calendar:
    """Local midnights and nursing-shift changes covering the stays (wall-clock times, exact
    across daylight-saving changes): hospital days, service blocks and shifts.

    Day k starts at `midnight[k]`; day 0 is the day before the batch date, so every admission
    and discharge falls inside the table. Shift j of day k starts at `shift_start[k * S + j]`.
    """

    def __init__(self, cfg: Config, date: dt.date, enc: Encounters, starts: list[float]):
        self.first = date - dt.timedelta(days=1)
        last = int(enc.discharge.max()) if len(enc) else local_midnight(date, cfg.tz)
        days = [self.first + dt.timedelta(days=k)
                for k in range((last - local_midnight(self.first, cfg.tz)) // DAY + 4)]
        self.midnight = np.array([local_midnight(d, cfg.tz) for d in days], dtype=np.int64)
        self._days, self._tz, self._clock = days, cfg.tz, {}
        self.per_day = len(starts)
        self.shift_start = np.array([_wall_clock(d, h, cfg.tz) for d in days for h in starts], dtype=np.int64)

    def day(self, epoch: np.ndarray) -> np.ndarray:
        """Index of the local calendar day each epoch second falls on."""
        return np.searchsorted(self.midnight, epoch, side="right") - 1

    def ordinal(self, day: np.ndarray) -> np.ndarray:
        """Proleptic Gregorian ordinal of day indices (Monday is ordinal % 7 == 1)."""
        return self.first.toordinal() + day

    def at_clock(self, day: np.ndarray, hour: float) -> np.ndarray:
        """Epoch second of local clock time `hour` on each day index."""
        if hour not in self._clock:
            self._clock[hour] = np.array([_wall_clock(d, hour, self._tz) for d in self._days], dtype=np.int64)
        return self._clock[hour][day]

    def shift_ends(self, day: np.ndarray) -> list[np.ndarray]:
        """End epoch of each shift that begins on local day `day`, in shift order."""
        return [self.shift_start[day * self.per_day + j + 1] for j in range(self.per_day)]

    def shift_of(self, epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(local day the shift began, shift number) for each epoch second."""
        i = np.searchsorted(self.shift_start, epoch, side="right") - 1
        return i // self.per_day, i % self.per_day


def _wall_clock(day: dt.date, hour: float, tz) -> int:
    """Epoch second of a local clock time on `day`."""
    minutes = int(round(hour * 60))
    return int(dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz).timestamp())


def _shifts(cfg: Config, role: str) -> tuple[list[str], list[float]]:
    """A shift rota's names and local start hours, in clock order."""
    pairs = sorted(cfg.notes["authors"][role]["rota"]["shifts"].items(), key=lambda kv: kv[1])
    return [k for k, _ in pairs], [float(h) for _, h in pairs]


def _schedule(cfg: Config, enc: Encounters, cal: _Calendar, vitals: Vitals,
              rng: np.random.Generator) -> list[Note]:
    batches: list[_Batch] = []
    for scenario in sorted(set(enc.scenario.tolist())):
        rows = np.flatnonzero(enc.scenario == scenario)
        for note_type, spec in note_types(cfg, scenario).items():
            batches += _timed(cfg, note_type, spec, rows, enc, cal, vitals, rng)
    if not batches:
        return []
    names = sorted({name for _, _, name in batches})
    rows, hours = (np.concatenate([np.asarray(b[i]) for b in batches]) for i in (0, 1))
    kind = np.concatenate([np.full(len(b[0]), names.index(b[2])) for b in batches])
    order = np.lexsort((kind, hours, rows))  # as the notes sort
    return [Note(e, h, names[k]) for e, h, k in zip(rows[order].astype(np.int64).tolist(),
                                                    hours[order].astype(float).tolist(), kind[order].tolist(),
                                                    strict=True)]


_Batch = tuple[np.ndarray, np.ndarray, str]  # notes of one type: encounter rows, hours since admission, type


def _notes(rows: np.ndarray, hours: np.ndarray, note_type: str) -> list[_Batch]:
    return [(rows, hours, note_type)]


def _timed(cfg: Config, note_type: str, spec: dict, rows: np.ndarray, enc: Encounters, cal: _Calendar,
           vitals: Vitals, rng: np.random.Generator) -> list[_Batch]:
    """When notes of one type are written for encounters `rows` (hours since admission)."""
    at = spec["at"]
    admit, los = enc.admit[rows], (enc.discharge[rows] - enc.admit[rows]) / HOUR
    if "after_admit_hours" in at:
        return _notes(rows, np.minimum(rng.uniform(*at["after_admit_hours"], rows.size), los), note_type)
    if "before_discharge_hours" in at:
        h = np.maximum(los - rng.uniform(*at["before_discharge_hours"], rows.size), 0)
        if at.get("at_death"):
            died = enc.table["discharge_disposition"][rows] == cfg.notes["death_disposition"]
            h = np.where(died, los, h)
        return _notes(rows, h, note_type)
    if "daily_local_hours" in at:
        return _daily(at, rows, admit, los, cal, rng, note_type)
    if "before_shift_end_hours" in at:
        return _end_of_shift(cfg, note_type, spec, rows, enc, cal, rng)
    hit = condition_mask(at["when"], vitals.table) & np.isin(vitals.enc, rows)
    owner, hours = firings(vitals.enc, vitals.hours, hit, at["max"], at["min_gap_hours"])
    delay = rng.uniform(*at["delay_minutes"], owner.size) / 60
    full_los = (enc.discharge - enc.admit) / HOUR
    return _notes(owner, np.minimum(hours + delay, full_los[owner]), note_type)


def _daily(at: dict, rows: np.ndarray, admit: np.ndarray, los: np.ndarray, cal: _Calendar,
           rng: np.random.Generator, note_type: str) -> list[_Batch]:
    """One note on each local calendar day after the admission day, at a local clock time."""
    out = []
    day0 = cal.day(admit)
    lo, hi = at["daily_local_hours"]
    for k in range(1, int(los.max() // 24) + 3 if rows.size else 0):
        h = (cal.at_clock(day0 + k, lo) - admit) / HOUR + rng.uniform(0, hi - lo, rows.size)
        keep = h < los - at["min_hours_before_discharge"]
        out += _notes(rows[keep], h[keep], note_type)
    return out


def _end_of_shift(cfg: Config, note_type: str, spec: dict, rows: np.ndarray, enc: Encounters,
                  cal: _Calendar, rng: np.random.Generator) -> list[_Batch]:
    """One note near the end of each shift of the author's rota that the stay covers."""
    at = spec["at"]
    admit, discharge = enc.admit[rows], enc.discharge[rows]
    earliest = admit + int(round(at["min_hours_after_admit"] * HOUR))
    out = []
    day0 = cal.day(admit) - 1
    for k in range(int((discharge - admit).max() // DAY) + 3 if rows.size else 0):
        for end in cal.shift_ends(day0 + k):
            t = end - np.round(rng.uniform(*at["before_shift_end_hours"], rows.size) * HOUR).astype(np.int64)
            keep = (t >= earliest) & (t <= discharge)
            out += _notes(rows[keep], (t[keep] - admit[keep]) / HOUR, note_type)
    return out


class _When(NamedTuple):
    """A note's moment: epoch second, hospital day (1 = local day of admission) and nursing shift."""
    epoch: int
    note_day: int
    shift: dict


def _stay(cfg: Config, registry: Registry, enc: Encounters, e: int) -> tuple[dict, dict]:
    """What every note of encounter `e` may quote about the patient and the stay."""
    p = enc.patient_index[e]
    patient = {"age": int(registry.age_years[p]), **cfg.notes["sex_words"][registry.table["sex"][p]],
               "comorbidities": enc.history[e]}
    encounter = {
        "dx_code": enc.table["primary_dx_code"][e], "dx_desc": enc.table["primary_dx_desc"][e],
        "scenario": cfg.scenarios[enc.scenario[e]]["title"], "outcome": enc.outcome[e],
        "care_unit": enc.table["care_unit"][e],
        "disposition_text": cfg.notes["dispositions"][enc.table["discharge_disposition"][e]],
        "los_days": f"{(enc.discharge[e] - enc.admit[e]) / 86400:.1f}",
        "previous_stay": enc.previous_stay[e],
    }
    return patient, encounter


def _context(stay: tuple[dict, dict], vitals: tuple[dict, dict, dict], lab: dict, when: _When,
             helpers: dict) -> dict:
    """What a note written at `when` may quote: its stay, and the vitals and labs charted by then."""
    patient, encounter = stay
    first, latest, worst = vitals
    return {
        "patient": patient, "encounter": encounter,
        "first": first, "latest": latest, "worst": worst, "lab": lab,
        "note_day": when.note_day,
        "shift": when.shift,
        **helpers,
    }


def _reads(cfg: Config, scenario: str, note_type: str, name: str) -> bool:
    """Whether a note type's templates, or a phrase they use, may read context variable `name`."""
    sc = cfg.scenarios[scenario]
    texts = list(note_types(cfg, scenario)[note_type]["templates"])
    keys = {k for t in texts for k in phrase_keys(t)}
    for source in [sc["notes"], *(b.get("notes", {}) for b in sc["outcomes"].values())]:
        texts += [v if isinstance(v, str) else v["text"] for k, vs in source.items() if k in keys for v in vs]
    return any(name in template_names(t) for t in texts if "{" in t)


def _moments(cfg: Config, enc: Encounters, cal: _Calendar, notes: list[Note]) -> tuple[np.ndarray, list[_When]]:
    """Each note's encounter row and moment: the second it is written (inside the stay), its hospital
    day and the nursing shift it falls in."""
    e = np.array([n.enc for n in notes], dtype=np.int64)
    hours = np.array([n.hours for n in notes], dtype=float)
    epoch = np.minimum(enc.admit[e] + np.round(hours * HOUR).astype(np.int64), enc.discharge[e])
    note_day = cal.day(epoch) - cal.day(enc.admit[e]) + 1
    names, starts = _shifts(cfg, _shift_role(cfg))
    _, j = cal.shift_of(epoch)
    clock = [f"{int(h):02d}:{round(h % 1 * 60):02d}" for h in starts]
    shifts = [{"name": names[i], "start": clock[i], "end": clock[(i + 1) % len(starts)]}
              for i in range(len(starts))]
    whens = [_When(t, d, shifts[k]) for t, d, k in zip(epoch.tolist(), note_day.tolist(), j.tolist(), strict=True)]
    return epoch, whens


def _shift_role(cfg: Config) -> str:
    """The author role that works shifts (its rota names them)."""
    return next(r for r, a in cfg.notes["authors"].items() if "shifts" in a["rota"])


def _rota(cfg: Config, enc: Encounters, cal: _Calendar, notes: list[Note], epoch: np.ndarray,
          rng: np.random.Generator) -> list[str]:
    """Each note's author from the role's rota: the attending of the service block, or the nurse of
    the shift. Each encounter draws its place on every rota once."""
    locale = cfg.generator["hospital"]["locale"]
    e = np.array([n.enc for n in notes], dtype=np.int64)
    types = {(sc, k): t for sc in sorted(set(enc.scenario.tolist())) for k, t in note_types(cfg, sc).items()}
    kinds = list(types)  # a scenario may define its own types
    number = {k: i for i, k in enumerate(kinds)}
    kind = np.array([number[sc, n.note_type] for sc, n in zip(enc.scenario[e].tolist(), notes, strict=True)],
                    dtype=np.int64)
    role_of = np.array([types[k]["author"] for k in kinds], dtype=object)[kind]
    at_admit = np.array([types[k].get("author_time") == "admission" for k in kinds], dtype=bool)[kind]
    author = np.empty(len(notes), dtype=object)
    for role, spec in cfg.notes["authors"].items():
        pool = _authors(cfg.seed, locale, role, spec["count"], spec["suffix"])
        place = rng.integers(spec["count"], size=len(enc))
        mine = role_of == role
        if not mine.any():
            continue
        t = np.where(at_admit, enc.admit[e], epoch)[mine]
        rota = spec["rota"]
        if "block_days" in rota:
            turn = (cal.ordinal(cal.day(t)) - 1 - rota["first_weekday"]) // rota["block_days"]
        else:
            day, j = cal.shift_of(t)
            turn = cal.per_day * (cal.ordinal(day) // rota["days_in_a_row"]) + j
        author[mine] = np.asarray(pool, dtype=object)[(place[e[mine]] + turn) % spec["count"]]
    return author.tolist()


def claim_view(enc: Encounters, vitals: Vitals, labs: Labs, interventions: Interventions) -> ChartView:
    """The chart as claim conditions read it, from the same columns the files are written from."""
    t = enc.table
    encounters = {"admit": enc.admit, "outcome": enc.outcome,
                  **{k: t[k] for k in ("primary_dx_code", "discharge_disposition", "care_unit")}}
    v = {"enc": vitals.enc, "time": vitals.table["event_time"],
         **{k: vitals.table[k] for k in (*VITAL_KEYS, "care_unit") if k != "consciousness"}}
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


def _licensed(cfg: Config, enc: Encounters, notes: list[Note], epoch: np.ndarray,
              view: ChartView) -> list[dict[str, list[str]]]:
    """For each note, by phrase key, the variants the chart at its time licenses (claims whose
    condition holds, else the fallbacks); each variant list is evaluated for all its notes at once."""
    out: list[dict[str, list[str]]] = [{} for _ in notes]
    if not notes:
        return out
    e = np.array([n.enc for n in notes], dtype=np.int64)
    branches: dict[tuple[str, str, str], list[int]] = {}  # (scenario, outcome, type) -> its notes
    scenario, outcome = enc.scenario.tolist(), enc.outcome.tolist()
    for i, n in enumerate(notes):
        branches.setdefault((scenario[n.enc], outcome[n.enc], n.note_type), []).append(i)
    groups: dict[tuple, tuple[list, list[int]]] = {}  # a declared phrase list -> (its variants, its notes)
    for branch, members in branches.items():
        for group, variants in _phrase_plan(cfg, *branch):
            groups.setdefault(group, (variants, []))[1].extend(members)
    for (_, key, _), (variants, idx) in groups.items():
        rows = np.asarray(idx)
        for i, pool in zip(idx, eligible(phrase_list(variants), view, e[rows], epoch[rows]), strict=True):
            out[i][key] = pool
    return out



def _choice_pools(cfg: Config, enc: Encounters, view: ChartView) -> list[dict[str, list[str]]]:
    """Per encounter, by choice name, the options its whole stay allows: those whose `when:` holds
    on the chart at discharge (the patient takes warfarin only if the INR shows it), else the plain
    ones. A branch's own choices replace the scenario's of the same name."""
    out: list[dict[str, list[str]]] = [{} for _ in range(len(enc))]
    branches: dict[tuple[str, str], list[int]] = {}
    for i, branch in enumerate(zip(enc.scenario.tolist(), enc.outcome.tolist(), strict=True)):
        branches.setdefault(branch, []).append(i)
    for (scenario, outcome), members in sorted(branches.items()):
        rows = np.asarray(members, dtype=np.int64)
        sc = cfg.scenarios[scenario]
        spec = {**sc["notes"].get("choices", {}), **sc["outcomes"][outcome].get("notes", {}).get("choices", {})}
        for name, options in spec.items():
            for i, pool in zip(rows.tolist(), eligible(phrase_list(options), view, rows, enc.discharge[rows]),
                               strict=True):
                out[i][name] = pool
    return out


def generate_notes(cfg: Config, date: dt.date, registry: Registry, enc: Encounters,
                   vitals: Vitals, labs: Labs, rng: np.random.Generator, first_id: int = 1,
                   interventions: Interventions | None = None) -> dict[str, np.ndarray]:
    cal = _Calendar(cfg, date, enc, _shifts(cfg, _shift_role(cfg))[1])
    notes = _schedule(cfg, enc, cal, vitals, rng)
    prose = Prose(cfg)
    chart = Chart(cfg, vitals, labs, len(enc), prose)
    epoch, whens = _moments(cfg, enc, cal, notes)
    authors = _rota(cfg, enc, cal, notes, epoch, rng)
    view = claim_view(enc, vitals, labs, interventions if interventions is not None else Interventions.none())
    licensed = _licensed(cfg, enc, notes, epoch, view)  # what the chart at each note's time lets it say
    choices = _choice_pools(cfg, enc, view)
    helpers = {"vitals_line": prose.vitals_line, "labs_line": prose.labs_line}
    types = {sc: note_types(cfg, sc) for sc in sorted(set(enc.scenario.tolist()))}
    note_enc = np.array([n.enc for n in notes], dtype=np.int64)
    scenario_of = enc.scenario[note_enc].tolist()
    reads = {(sc, k, name): _reads(cfg, sc, k, name) for sc in types for k in types[sc] for name in ("lab", "worst")}
    reading = {name: np.array([reads[sc, n.note_type, name] for sc, n in zip(scenario_of, notes, strict=True)],
                              dtype=bool) for name in ("lab", "worst")}  # only what a note can render reads these
    snapshots = chart.vitals(note_enc, epoch, reading["worst"])
    results = [{} for _ in notes]
    at = reading["lab"]
    for i, lab in zip(np.flatnonzero(at).tolist(), chart.labs(note_enc[at], epoch[at]), strict=True):
        results[i] = lab
    picked, templates, said = draws(note_enc.tolist(), [types[sc][n.note_type]["templates"]
                                                         for sc, n in zip(scenario_of, notes, strict=True)],
                                    choices, licensed, rng)
    stays: dict[int, tuple[dict, dict]] = {}
    contexts = []
    for note, when, charted, lab in zip(notes, whens, snapshots, results, strict=True):
        if note.enc not in stays:
            stays[note.enc] = _stay(cfg, registry, enc, note.enc)
        contexts.append(_context(stays[note.enc], charted, lab, when, helpers))
    where = [f"{cfg.scenarios[sc]['_file']}: note type {n.note_type}" for sc, n in zip(scenario_of, notes, strict=True)]
    phrases = render_phrases(note_enc.tolist(), contexts, picked, said, where)
    text = render_notes(note_enc.tolist(), contexts, picked, templates, phrases, authors, where)
    rows = {"enc": note_enc.tolist(), "text": text, "author": authors,
            "note_type": [types[sc][n.note_type].get("note_type", n.note_type) for sc, n in zip(scenario_of, notes,
                                                                                              strict=True)]}
    e = np.asarray(rows["enc"], dtype=np.int64)
    n = e.size
    return {
        "note_id": table_ids("notes", date, first_id, n),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "note_time": epoch,
        "note_type": np.asarray(rows["note_type"], dtype=object),
        "author": np.asarray(rows["author"], dtype=object),
        "text": np.asarray(rows["text"], dtype=object),
    }
