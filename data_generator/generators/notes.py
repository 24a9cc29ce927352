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
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np

from data_generator.claims import ChartView, build_view, eligible, licensed_pools, phrase_list
from data_generator.config import Config
from data_generator.generators.encounters import Encounters
from data_generator.generators.interventions import Interventions
from data_generator.generators.labs import Labs
from data_generator.generators.note_chart import Chart, Prose
from data_generator.generators.note_text import Licensed, draws, groups, objects, render_notes, render_phrases
from data_generator.generators.registry import Registry
from data_generator.generators.timeline import condition_mask, firings, table_ids
from data_generator.generators.vitals import Vitals
from data_generator.note_context import VITAL_KEYS, phrase_keys, template_names, value_uses
from data_generator.rng import int_seed
from data_generator.timeutil import DAY, HOUR, local_midnight


@dataclass(frozen=True)
class Notes:
    """The notes to write, in the order they sort (encounter, then time, then type): each
    note's encounter row, hours since admission and type (an index into `types`)."""
    enc: np.ndarray
    hours: np.ndarray
    kind: np.ndarray
    types: list[str]


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


def _schedule(cfg: Config, enc: Encounters, cal: _Calendar, vitals: Vitals, rng: np.random.Generator) -> Notes:
    batches: list[_Batch] = []
    hits: dict[int, np.ndarray] = {}  # a `when:` condition's charted sets, by the condition's id
    for scenario in sorted(set(enc.scenario.tolist())):
        rows = np.flatnonzero(enc.scenario == scenario)
        for note_type, spec in note_types(cfg, scenario).items():
            batches += _timed(cfg, note_type, spec, rows, enc, cal, vitals, rng, hits)
    if not batches:
        return Notes(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64), [])
    names = sorted({name for _, _, name in batches})
    rows, hours = (np.concatenate([np.asarray(b[i]) for b in batches]) for i in (0, 1))
    kind = np.concatenate([np.full(len(b[0]), names.index(b[2]), dtype=np.int64) for b in batches])
    order = np.lexsort((kind, hours, rows))  # as the notes sort
    return Notes(rows[order].astype(np.int64), hours[order].astype(float), kind[order], names)


_Batch = tuple[np.ndarray, np.ndarray, str]  # notes of one type: encounter rows, hours since admission, type


def _notes(rows: np.ndarray, hours: np.ndarray, note_type: str) -> list[_Batch]:
    return [(rows, hours, note_type)]


def _timed(cfg: Config, note_type: str, spec: dict, rows: np.ndarray, enc: Encounters, cal: _Calendar,
           vitals: Vitals, rng: np.random.Generator, hits: dict[int, np.ndarray]) -> list[_Batch]:
    """When notes of one type are written for encounters `rows` (hours since admission). A
    `when:` condition is evaluated on the chart once (`hits`) for every scenario sharing it."""
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
    if id(at["when"]) not in hits:
        hits[id(at["when"])] = condition_mask(at["when"], vitals.table)
    mine = np.zeros(len(enc), dtype=bool)
    mine[rows] = True
    hit = hits[id(at["when"])] & mine[vitals.enc]
    owner, hours = firings(vitals.enc, vitals.hours, hit, at["max"], at["min_gap_hours"])
    delay = rng.uniform(*at["delay_minutes"], owner.size) / 60
    full_los = (enc.discharge - enc.admit) / HOUR
    return _notes(owner, np.minimum(hours + delay, full_los[owner]), note_type)


def _daily(at: dict, rows: np.ndarray, admit: np.ndarray, los: np.ndarray, cal: _Calendar,
           rng: np.random.Generator, note_type: str) -> list[_Batch]:
    """One note on each local calendar day after the admission day, at a local clock time."""
    days = int(los.max() // 24) + 2 if rows.size else 0
    if not days:
        return []
    lo, hi = at["daily_local_hours"]
    day = cal.day(admit) + np.arange(1, days + 1)[:, None]                  # days after the admission day
    h = (cal.at_clock(day, lo) - admit) / HOUR + rng.uniform(0, hi - lo, day.shape)  # a day's draws in turn
    day_of, note = np.nonzero(h < los - at["min_hours_before_discharge"])
    return _notes(rows[note], h[day_of, note], note_type)


def _end_of_shift(cfg: Config, note_type: str, spec: dict, rows: np.ndarray, enc: Encounters,
                  cal: _Calendar, rng: np.random.Generator) -> list[_Batch]:
    """One note near the end of each shift of the author's rota that the stay covers."""
    at = spec["at"]
    admit, discharge = enc.admit[rows], enc.discharge[rows]
    earliest = admit + int(round(at["min_hours_after_admit"] * HOUR))
    days = int((discharge - admit).max() // DAY) + 3 if rows.size else 0
    if not days:
        return []
    day = cal.day(admit) - 1 + np.arange(days)[:, None]
    end = np.stack(cal.shift_ends(day), axis=1).reshape(-1, rows.size)      # day by day, shift by shift
    t = end - np.round(rng.uniform(*at["before_shift_end_hours"], end.shape) * HOUR).astype(np.int64)
    shift, note = np.nonzero((t >= earliest) & (t <= discharge))
    return _notes(rows[note], (t[shift, note] - admit[note]) / HOUR, note_type)


class _When(NamedTuple):
    """Notes' moments as templates read them: hospital day (1 = local day of admission) and
    nursing shift."""
    note_day: np.ndarray
    shift: np.ndarray


def _stays(cfg: Config, registry: Registry, enc: Encounters, rows: np.ndarray) -> tuple[list[dict], list[dict]]:
    """What every note of each encounter of `rows` may quote about the patient and the stay."""
    p, t = enc.patient_index[rows], enc.table
    ages, sex_words = registry.age_years[p].astype(int).tolist(), cfg.notes["sex_words"]
    patient = [{"age": age, **sex_words[sex], "comorbidities": history}
               for age, sex, history in zip(ages, registry.table["sex"][p].tolist(), enc.history[rows].tolist(),
                                            strict=True)]
    titles, words = {sc: cfg.scenarios[sc]["title"] for sc in cfg.scenarios}, cfg.notes["dispositions"]
    los = [f"{days:.1f}" for days in ((enc.discharge[rows] - enc.admit[rows]) / 86400).tolist()]
    encounter = [{"dx_code": code, "dx_desc": desc, "scenario": titles[scenario], "outcome": outcome,
                  "care_unit": unit, "disposition_text": words[disposition], "los_days": days,
                  "previous_stay": previous}
                 for code, desc, scenario, outcome, unit, disposition, days, previous in zip(
                     t["primary_dx_code"][rows].tolist(), t["primary_dx_desc"][rows].tolist(),
                     enc.scenario[rows].tolist(), enc.outcome[rows].tolist(), t["care_unit"][rows].tolist(),
                     t["discharge_disposition"][rows].tolist(), los, enc.previous_stay[rows].tolist(), strict=True)]
    return patient, encounter


def _context(stay: tuple[np.ndarray, np.ndarray], vitals: tuple[np.ndarray, np.ndarray, np.ndarray],
             lab: np.ndarray, when: _When, helpers: dict) -> dict[str, np.ndarray]:
    """What each note may quote, by name, one value per note: its stay, and the vitals and labs
    charted by its moment."""
    patient, encounter = stay
    first, latest, worst = vitals
    return {
        "patient": patient, "encounter": encounter,
        "first": first, "latest": latest, "worst": worst, "lab": lab,
        "note_day": when.note_day,
        "shift": when.shift,
        **helpers,
    }


def _texts(cfg: Config, scenario: str, note_type: str) -> list[str]:
    """A note type's templates and the phrases they use (those that are templates themselves)."""
    sc = cfg.scenarios[scenario]
    texts = list(note_types(cfg, scenario)[note_type]["templates"])
    keys = {k for t in texts for k in phrase_keys(t)}
    for source in [sc["notes"], *(b.get("notes", {}) for b in sc["outcomes"].values())]:
        texts += [v if isinstance(v, str) else v["text"] for k, vs in source.items() if k in keys for v in vs]
    return [t for t in texts if "{" in t]


def _reads(texts: list[str], name: str) -> bool:
    """Whether a note type's texts (`_texts`) may read context variable `name`."""
    return any(name in template_names(t) for t in texts)


def _reads_results(texts: list[str]) -> bool:
    """Whether a note type's texts may read the entries of `lab` (more than whether it is empty
    and its `labs_line`)."""
    uses = [value_uses(t, "lab", "labs_line") for t in texts]
    return any(use is None or use[0] for use in uses)


def _vitals_read(texts: list[str]) -> frozenset[str]:
    """The columns a note type's texts may read of `first` and `latest` (besides their
    `vitals_line`)."""
    return _columns_read(texts, ("first", "latest"), "vitals_line")


def _worst_read(texts: list[str]) -> frozenset[str]:
    """The columns a note type's texts may read of `worst` (a line written from it reads all)."""
    return _columns_read(texts, ("worst",), "")


def _columns_read(texts: list[str], names: tuple[str, ...], helper: str) -> frozenset[str]:
    """The vitals columns `texts` may read of the sets `names`, besides what they hand to
    `helper`: those they name, or all where they may read more (a set's truth, its keys...)."""
    uses = [value_uses(t, name, helper) for t in texts for name in names]
    if any(use is None or use[1] for use in uses):
        return frozenset(VITAL_KEYS)
    return frozenset().union(*(use[0] for use in uses))


class _Kinds:
    """Each note's kind: its scenario and note type (a scenario may define its own types), so
    that what a kind fixes is looked up once per kind."""

    def __init__(self, cfg: Config, enc: Encounters, notes: Notes):
        scenarios = sorted(set(enc.scenario.tolist()))
        number = {sc: i for i, sc in enumerate(scenarios)}
        scenario = np.array([number[sc] for sc in enc.scenario.tolist()], dtype=np.int64)
        n = len(notes.types)
        kinds, self.of = np.unique(scenario[notes.enc] * n + notes.kind, return_inverse=True)
        self.keys = [(scenarios[k // n], notes.types[k % n]) for k in kinds.tolist()]
        self.specs = [note_types(cfg, sc)[name] for sc, name in self.keys]

    def each(self, values: list) -> list:
        """Each note's value, from one value per kind."""
        return objects(values)[self.of].tolist()

    def array(self, values: list, dtype) -> np.ndarray:
        return np.asarray(values, dtype=dtype)[self.of]


def _moments(cfg: Config, enc: Encounters, cal: _Calendar, notes: Notes) -> tuple[np.ndarray, _When]:
    """Each note's moment: the second it is written (inside the stay), its hospital day and the
    nursing shift it falls in."""
    e = notes.enc
    epoch = np.minimum(enc.admit[e] + np.round(notes.hours * HOUR).astype(np.int64), enc.discharge[e])
    note_day = cal.day(epoch) - cal.day(enc.admit[e]) + 1
    names, starts = _shifts(cfg, _shift_role(cfg))
    _, j = cal.shift_of(epoch)
    clock = [f"{int(h):02d}:{round(h % 1 * 60):02d}" for h in starts]
    shifts = [{"name": names[i], "start": clock[i], "end": clock[(i + 1) % len(starts)]}
              for i in range(len(starts))]
    return epoch, _When(note_day, objects(shifts)[j])


def _shift_role(cfg: Config) -> str:
    """The author role that works shifts (its rota names them)."""
    return next(r for r, a in cfg.notes["authors"].items() if "shifts" in a["rota"])


def _rota(cfg: Config, enc: Encounters, cal: _Calendar, notes: Notes, kinds: _Kinds, epoch: np.ndarray,
          rng: np.random.Generator) -> list[str]:
    """Each note's author from the role's rota: the attending of the service block, or the nurse of
    the shift. Each encounter draws its place on every rota once."""
    locale = cfg.generator["hospital"]["locale"]
    e = notes.enc
    role_of = kinds.array([spec["author"] for spec in kinds.specs], object)
    at_admit = kinds.array([spec.get("author_time") == "admission" for spec in kinds.specs], bool)
    author = np.empty(e.size, dtype=object)
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


def claim_view(cfg: Config, enc: Encounters, vitals: Vitals, labs: Labs, interventions: Interventions) -> ChartView:
    """The chart as claim conditions read it, from the same columns the files are written from."""
    t = enc.table
    encounters = {"admit": enc.admit, "outcome": enc.outcome,
                  **{k: t[k] for k in ("primary_dx_code", "discharge_disposition", "care_unit")}}
    v = {"enc": vitals.enc, "time": vitals.table["event_time"],
         **{k: vitals.table[k] for k in (*VITAL_KEYS, "care_unit") if k != "consciousness"}}
    lab = {"enc": labs.enc, "code": labs.code, "names": list(cfg.labs["tests"]), "value": labs.table["value"],
           "flag": labs.table["flag"],
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


def _licensed(cfg: Config, enc: Encounters, notes: Notes, kinds: _Kinds, epoch: np.ndarray,
              view: ChartView) -> dict[str, Licensed]:
    """For each phrase key, each note's variants of it that the chart at the note's time licenses
    (claims whose condition holds, else the fallbacks); each declared variant list is evaluated
    for all its notes at once."""
    outcomes = sorted(set(enc.outcome.tolist()))
    number = {name: i for i, name in enumerate(outcomes)}
    branch = kinds.of * len(outcomes) + np.array([number[o] for o in enc.outcome.tolist()], dtype=np.int64)[notes.enc]
    lists: dict[tuple, tuple[list, list[np.ndarray]]] = {}  # a declared phrase list -> (its variants, its notes)
    present, of = np.unique(branch, return_inverse=True)
    for b, mine in zip(present.tolist(), groups(of, present.size), strict=True):
        (scenario, note_type), outcome = kinds.keys[b // len(outcomes)], outcomes[b % len(outcomes)]
        for group, variants in _phrase_plan(cfg, scenario, outcome, note_type):
            lists.setdefault(group, (variants, []))[1].append(mine)
    out: dict[str, tuple[list, np.ndarray]] = {}  # by phrase key: its pools, and each note's pool
    for (_, key, _), (variants, parts) in lists.items():
        rows = np.concatenate(parts)
        pools, at = licensed_pools(phrase_list(variants), view, notes.enc[rows], epoch[rows])
        every, which = out.setdefault(key, ([], np.full(notes.enc.size, -1, dtype=np.int64)))
        which[rows] = at + len(every)
        every.extend(pools)
    return {key: Licensed(every, which) for key, (every, which) in out.items()}


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
                   vitals: Vitals, labs: Labs, rng: np.random.Generator, first_id: int | None = 1,
                   interventions: Interventions | None = None) -> dict[str, np.ndarray]:
    cal = _Calendar(cfg, date, enc, _shifts(cfg, _shift_role(cfg))[1])
    notes = _schedule(cfg, enc, cal, vitals, rng)
    kinds = _Kinds(cfg, enc, notes)
    prose = Prose(cfg)
    chart = Chart(cfg, vitals, labs, len(enc), prose)
    epoch, when = _moments(cfg, enc, cal, notes)
    authors = _rota(cfg, enc, cal, notes, kinds, epoch, rng)
    view = claim_view(cfg, enc, vitals, labs, interventions if interventions is not None else Interventions.none())
    licensed = _licensed(cfg, enc, notes, kinds, epoch, view)  # what the chart at each note's time lets it say
    choices = _choice_pools(cfg, enc, view)
    e, n = notes.enc, notes.enc.size
    texts = [_texts(cfg, sc, k) for sc, k in kinds.keys]
    reading = {name: kinds.array([_reads(t, name) for t in texts], bool)
               for name in ("lab", "worst")}  # only what a note can render reads these
    read = frozenset().union(*map(_vitals_read, texts))
    first, latest, worst = chart.vitals(e, epoch, reading["worst"], read, frozenset().union(*map(_worst_read, texts)))
    results = np.full(n, {}, dtype=object)  # one empty dict for the notes that cannot read it
    entries = kinds.array(list(map(_reads_results, texts)), bool)
    results[reading["lab"]] = chart.labs(e[reading["lab"]], epoch[reading["lab"]], entries[reading["lab"]])
    encs = e.tolist()
    picked, template_of, said = draws(e, kinds.of, [spec["templates"] for spec in kinds.specs], choices, licensed, rng)
    stays, at = np.unique(e, return_inverse=True)
    patient, encounter = (objects(part)[at] for part in _stays(cfg, registry, enc, stays)) if n else ([], [])
    helpers = {"vitals_line": np.full(n, prose.vitals_line, dtype=object),
               "labs_line": np.full(n, prose.labs_line, dtype=object)}
    context = {name: column if isinstance(column, np.ndarray) else objects(column)
               for name, column in _context((patient, encounter), (first, latest, worst), results, when,
                                            helpers).items()}
    where = kinds.each([f"{cfg.scenarios[sc]['_file']}: note type {k}" for sc, k in kinds.keys])
    phrases = render_phrases(encs, context, picked, said, where)
    templates = [t for spec in kinds.specs for t in spec["templates"]]  # as draws lays them out
    text = render_notes(encs, context, picked, template_of, templates, phrases, authors, where)
    return {
        "note_id": table_ids("notes", date, first_id, n),
        "encounter_id": enc.table["encounter_id"][e],
        "patient_id": enc.table["patient_id"][e],
        "note_time": epoch,
        "note_type": kinds.array([spec.get("note_type", k) for spec, (_, k) in zip(kinds.specs, kinds.keys,
                                                                                    strict=True)], object),
        "author": np.asarray(authors, dtype=object),
        "text": np.asarray(text, dtype=object),
    }
