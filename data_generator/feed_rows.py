"""What a nightly extract delivers, derived from the admission-date batches.

    deliveries(cfg, date, mode, encounters=None) -> {file: table}

An admission-date batch holds each stay whole. The feed re-cuts it by time: every row of the
batch, and the ADT messages and earlier versions of rows that led up to it, gets the local date
it is delivered on (`delivery_date`). A feed day is then the rows of every batch that can reach
it whose delivery date is that day (`feed.py`).

- adt_events: A01 at admission, A02 at each transfer (the simulation's transfers, the ones
  interventions.csv lists), A03 at discharge; A08 when the A01 carried the patient's previous
  address and phone; A11 after an A01 for the wrong unit (a correct A01 follows); A13 after an
  A03 sent before the patient left (the real A03 follows).
- encounters: one upsert per ADT message but A08, the encounter as that message left it
  (discharge_time and discharge_disposition empty while in hospital).
- patients: the patient's row with each A01 (the previous address and phone where an A08
  follows) and with each A08 (the batch's row).
- vitals, notes: each row once, on the day of its time or, as a late arrival, 1-3 days later.
- labs: by report time: a culture's preliminary reports (P) before its final (F); a corrected
  result first reported with another draw's value, then corrected (C) with the batch's.

Every choice is an addressed draw (`rng.uniforms`) keyed by the seed, the mode, the admission
day and the row's place in its batch, so a row is delivered the same way whichever feed day
asks. Folding the deliveries (latest version per key; an A11 removes the encounter) gives
the batch back exactly.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

from data_generator.config import Config
from data_generator.contracts import columns, load_feed_contract
from data_generator.generators.catalogue import catalogue
from data_generator.generators.labs import flags, preliminary_text
from data_generator.generators.lifetimes import day_index
from data_generator.pipeline import build_day
from data_generator.rng import uniforms
from data_generator.timeutil import DAY, HOUR, utc_offsets

SORT = "_at"  # internal column: epoch seconds a delivered row is ordered by (dropped before writing)
U_CANCEL_ADMIT, U_CANCEL_MIN, U_WRONG_UNIT, U_UPDATE, U_UPDATE_AT, U_DONOR, U_CANCEL_DIS, U_EARLY, U_DIS_MIN = range(9)


@cache
def meaning(name: str, column: str) -> dict[str, str]:
    """{meaning: code} of a feed column whose contract names its codes (`x-meaning`)."""
    return load_feed_contract(name)["properties"][column]["x-meaning"]


def settle_days(cfg: Config) -> int:
    """Days after its discharge day by which a stay's last row is delivered: the longest late
    delivery or correction delay."""
    feed = cfg.generator["feed"]
    return max(feed["late"]["delay_days"][1], int(np.ceil(feed["corrections"]["delay_hours"][1] / 24)))


def window_days(cfg: Config) -> int:
    """How many days before a feed day a stay can be admitted and still deliver a row on it: the
    longest stay, plus the days to settle, plus a day each side."""
    return int(np.ceil(catalogue(cfg).los[..., 3].max() / 24)) + settle_days(cfg) + 2


def local_days(epoch: np.ndarray, cfg: Config) -> np.ndarray:
    """The local calendar date (datetime64[D]) of each epoch second."""
    epoch = np.asarray(epoch, dtype=np.int64)
    return ((epoch + utc_offsets(epoch, cfg.tz)) // DAY).astype("datetime64[D]")


def deliveries(cfg: Config, date: dt.date, mode: str, encounters: int | None = None) -> dict[str, dict]:
    """Every feed row that the batch admitted on `date` ever delivers, with its delivery date and
    the epoch it is ordered by (`SORT`)."""
    registry, batch = build_day(cfg, date, mode, encounters, interventions=True)
    key = (f"feed {mode}", day_index(cfg, date))
    adt, enc, pats = _adt(cfg, batch, registry.table, key)
    return {"adt_events": adt, "patients": pats, "encounters": enc,
            "vitals": _once(cfg, batch["vitals"], "event_time", key, "vitals"),
            "labs": _labs(cfg, batch["labs"], key),
            "notes": _once(cfg, batch["notes"], "note_time", key, "notes")}


def _seeded(cfg: Config, key: tuple, purpose: str, k: int, n: int) -> np.ndarray:
    """(k, n) uniforms for `purpose`, addressed by the seed, the batch (`key`) and the row number."""
    name, day = key
    return uniforms(cfg.seed, f"{name} {purpose}", np.arange(k)[:, None], day, np.arange(n)[None, :])


def _between(lo_hi: list, u: np.ndarray) -> np.ndarray:
    lo, hi = lo_hi
    return lo + (hi - lo) * u


def _late_days(cfg: Config, key: tuple, table: str, n: int) -> np.ndarray:
    """Whole days each row of a single-version table is delivered after its own day (0: on time)."""
    late = cfg.generator["feed"]["late"]
    u = _seeded(cfg, key, f"late {table}", 2, n)
    lo, hi = late["delay_days"]
    days = lo + np.minimum((u[1] * (hi - lo + 1)).astype(np.int64), hi - lo)
    return np.where(u[0] < late["share"], days, 0)


def _once(cfg: Config, table: dict, time_col: str, key: tuple, name: str) -> dict:
    """Vitals or notes: each row once, on its day or a few days late."""
    at = np.asarray(table[time_col], dtype=np.int64)
    lag = _late_days(cfg, key, name, at.size)
    return {**table, "delivery_date": local_days(at, cfg) + lag.astype("timedelta64[D]"), SORT: at}


def _labs(cfg: Config, labs: dict, key: tuple) -> dict:
    """Lab rows by report time: culture P rows, corrected results' first (wrong) release, then every
    batch row (as F, P for a culture that was never final, or C where a wrong release preceded it)."""
    code = meaning("labs", "result_status")
    n = labs["lab_id"].size
    tests, cult = cfg.labs["tests"], cfg.labs["culture_results"]
    categorical = {spec["loinc"] for spec in tests.values() if spec.get("categorical")}
    is_culture = np.isin(labs["loinc_code"].astype(str), list(categorical))
    result = labs["result_time"].astype(np.int64)
    value = np.asarray(labs["value"], dtype=float)
    donor = _same_test_neighbour(labs["loinc_code"])
    u = _seeded(cfg, key, "correction", 2, n)
    corrections = cfg.generator["feed"]["corrections"]
    corrected = (~is_culture & (u[0] < corrections["share"]) & (donor >= 0) & ~np.isnan(value)
                 & (value[np.maximum(donor, 0)] != value))
    final = is_culture & ((labs["flag"] != cult["negative"]["flag"]) | (labs["value_text"] == cult["negative"]["text"]))
    status = np.where(corrected, code["corrected"],
                      np.where(is_culture & ~final, code["preliminary"], code["final"])).astype(object)
    delay = np.round(_between(corrections["delay_hours"], u[1]) * HOUR).astype(np.int64)
    reported = np.where(corrected, result + delay, result)
    single = ~is_culture & ~corrected
    lag = np.where(single, _late_days(cfg, key, "labs", n), 0)
    rows = {**labs, "result_status": status, "reported_time": reported,
            "delivery_date": local_days(reported, cfg) + lag.astype("timedelta64[D]"), SORT: reported}
    parts = [_wrong_releases(cfg, labs, corrected, donor, code["final"]),
             _preliminaries(cfg, labs, is_culture, code["preliminary"]), rows]
    return {c: np.concatenate([p[c] for p in parts]) for c in rows}


def _same_test_neighbour(loinc: np.ndarray) -> np.ndarray:
    """For each row, another row of the same test in the batch (the next one, cyclically; -1 if alone)."""
    codes = np.asarray(loinc).astype(str)
    order = np.lexsort((np.arange(codes.size), codes))
    sorted_codes = codes[order]
    start = np.searchsorted(sorted_codes, sorted_codes, side="left")
    end = np.searchsorted(sorted_codes, sorted_codes, side="right")
    pos = np.arange(codes.size)
    nxt = np.where(pos + 1 < end, pos + 1, start)
    out = np.empty(codes.size, dtype=np.int64)
    out[order] = np.where(end - start > 1, order[nxt], -1)
    return out


def _wrong_releases(cfg: Config, labs: dict, corrected: np.ndarray, donor: np.ndarray, final: str) -> dict:
    """The first release of each corrected result: final, with another draw's value of the same
    test (a specimen mix-up) and the flag that value earns."""
    rows = np.flatnonzero(corrected)
    out = {k: np.asarray(v)[rows] for k, v in labs.items()}
    out["value"] = np.asarray(labs["value"], dtype=float)[donor[rows]]
    by_code = {spec["loinc"]: name for name, spec in cfg.labs["tests"].items()}
    test = np.array([by_code[c] for c in out["loinc_code"].tolist()], dtype=object)
    out["flag"] = flags(cfg.labs["tests"], test, out["value"], out["ref_low"], out["ref_high"])
    at = out["result_time"].astype(np.int64)
    return {**out, "result_status": np.full(rows.size, final, dtype=object), "reported_time": at,
            "delivery_date": local_days(at, cfg), SORT: at}


def _preliminaries(cfg: Config, labs: dict, is_culture: np.ndarray, prelim: str) -> dict:
    """A culture's preliminary reports ("no growth to date at 24 hours") at each report round
    before its batch row's report."""
    cult = cfg.labs["culture_results"]
    rounds = np.asarray(cult["preliminary"]["report_hours"], dtype=float)
    rows = np.flatnonzero(is_culture)
    at = labs["event_time"].astype(np.int64)[rows, None] + np.round(rounds * HOUR).astype(np.int64)[None, :]
    before = at < labs["result_time"].astype(np.int64)[rows, None]
    r, k = np.nonzero(before)
    src = rows[r]
    out = {c: np.asarray(v)[src] for c, v in labs.items()}
    when = at[r, k]
    out.update(result_time=when, value=np.full(src.size, np.nan),
               value_text=np.array([preliminary_text(cult, h) for h in rounds[k]], dtype=object),
               flag=np.full(src.size, cult["negative"]["flag"], dtype=object))
    return {**out, "result_status": np.full(src.size, prelim, dtype=object), "reported_time": when,
            "delivery_date": local_days(when, cfg), SORT: when}


def _adt(cfg: Config, batch: dict, registry: dict, key: tuple) -> tuple[dict, dict, dict]:
    """The ADT messages of the batch's stays, and the encounter and patient upserts they carry."""
    ev = meaning("adt_events", "event_type")
    enc, moves = batch["encounters"], batch["interventions"]
    u = _seeded(cfg, key, "adt", 9, enc["encounter_id"].size)
    transfer = moves["kind"] == "transfer"
    by_enc: dict[str, list] = {}
    for e, t, dest in zip(moves["encounter_id"][transfer].tolist(), moves["start_time"][transfer].tolist(),
                          moves["detail"][transfer].tolist(), strict=True):
        by_enc.setdefault(e, []).append((int(t), dest))
    pats_at = {p: i for i, p in enumerate(batch["patients"]["patient_id"].tolist())}
    adt, enc_rows, pat_rows = [], [], []
    for i, enc_id in enumerate(enc["encounter_id"].tolist()):
        msgs, updated = _messages(cfg, ev, enc, i, u[:, i], sorted(by_enc.get(enc_id, [])))
        patient = pats_at[enc["patient_id"][i]]
        donor = _donor(registry["patient_id"], enc["patient_id"][i], u[U_DONOR, i]) if updated else None
        where = None
        for number, (at, event, shown, extra) in enumerate(msgs, start=1):
            event_id = f"{enc_id.replace('ENC-', 'ADT-', 1)}-{number:02d}"
            prior = where if event == ev["transfer"] else None
            where = extra if event == ev["transfer"] else shown if event in (ev["admit"], ev["cancel_admit"]) else where
            adt.append((event_id, event, at, i, where, prior))
            if event in (ev["admit"], ev["update"]):
                pat_rows.append((event_id, event, at, patient, donor if event == ev["admit"] else None))
            if event != ev["update"]:
                enc_rows.append((event_id, event, at, i, shown, where, extra if event == ev["discharge"] else None))
    return (_adt_table(cfg, enc, adt), _encounter_upserts(cfg, enc, enc_rows),
            _patient_upserts(cfg, batch["patients"], registry, pat_rows))


def _messages(cfg: Config, ev: dict, enc: dict, i: int, u: np.ndarray, moves: list) -> tuple[list, bool]:
    """Encounter `i`'s ADT messages in time order, as (time, event, admitting unit the message
    shows, the new unit of a transfer or the discharge time of a discharge), and whether its A01
    carried the patient's previous details (an A08 follows)."""
    feed = cfg.generator["feed"]
    admit, out, unit = int(enc["admit_time"][i]), int(enc["discharge_time"][i]), str(enc["care_unit"][i])
    msgs, first = [], admit
    if u[U_CANCEL_ADMIT] < feed["cancelled_admissions"]["share"]:
        others = [x for x in sorted(cfg.generator["care_units"]) if x != unit] or [unit]
        wrong = others[int(u[U_WRONG_UNIT] * len(others)) % len(others)]
        first = admit + int(round(_between(feed["cancelled_admissions"]["cancel_minutes"], u[U_CANCEL_MIN]) * 60))
        msgs += [(admit, ev["admit"], wrong, None), (first, ev["cancel_admit"], wrong, None)]
        first += 60  # the correct A01 a minute after the cancellation
    msgs.append((first, ev["admit"], unit, None))
    msgs += [(t, ev["transfer"], unit, dest) for t, dest in moves]
    updated = bool(u[U_UPDATE] < feed["demographic_updates"]["share"])
    if updated:
        msgs.append((first + 60 + int(u[U_UPDATE_AT] * max(out - first - 120, 0)), ev["update"], unit, None))
    wrong_out = feed["cancelled_discharges"]
    if u[U_CANCEL_DIS] < wrong_out["share"]:
        sent = max(out - int(_between(wrong_out["early_hours"], u[U_EARLY]) * HOUR), (first + out) // 2)
        cancel = min(sent + int(_between(wrong_out["cancel_minutes"], u[U_DIS_MIN]) * 60), (sent + out) // 2)
        msgs += [(sent, ev["discharge"], unit, sent), (cancel, ev["cancel_discharge"], unit, None)]
    msgs.append((out, ev["discharge"], unit, out))
    order = sorted(range(len(msgs)), key=lambda j: (msgs[j][0], j))
    return [msgs[j] for j in order], updated


def _donor(reg_ids: np.ndarray, patient_id: str, u: float) -> int:
    """Another registered patient, whose address and phone stand for the patient's previous ones."""
    n = reg_ids.size
    me = int(np.searchsorted(reg_ids, patient_id))
    return (me + 1 + int(u * max(n - 1, 1))) % n


def _columns(rows: list[tuple], k: int) -> list[np.ndarray]:
    """Row tuples of k fields as k object columns (empty ones when there are no rows)."""
    cols = [np.empty(len(rows), dtype=object) for _ in range(k)]
    for j, col in enumerate(cols):
        col[:] = [r[j] for r in rows]
    return cols


def _adt_table(cfg: Config, enc: dict, rows: list) -> dict:
    event_id, event, at, i, where, prior = _columns(rows, 6)
    at, i = at.astype(np.int64), i.astype(np.int64)
    return {"event_id": event_id, "event_type": event, "event_time": at,
            "encounter_id": enc["encounter_id"][i], "patient_id": enc["patient_id"][i],
            "care_unit": where, "prior_unit": prior, "delivery_date": local_days(at, cfg), SORT: at}


def _encounter_upserts(cfg: Config, enc: dict, rows: list) -> dict:
    event_id, event, at, i, shown, where, discharged = _columns(rows, 7)
    at, i = at.astype(np.int64), i.astype(np.int64)
    out = {c: np.asarray(v)[i] for c, v in enc.items()}
    gone = np.array([d is not None for d in discharged], dtype=bool)
    out["discharge_time"] = np.where(gone, np.array([d or 0 for d in discharged], dtype=float), np.nan)
    out["discharge_disposition"] = np.where(gone, out["discharge_disposition"], None)
    out["care_unit"] = shown
    return {**out, "event_id": event_id, "event_type": event, "updated_at": at, "current_unit": where,
            "delivery_date": local_days(at, cfg), SORT: at}


def _patient_upserts(cfg: Config, patients: dict, registry: dict, rows: list) -> dict:
    """The patient row with each message; a previous-address row takes a donor's address and phone."""
    event_id, event, at, p, donor = _columns(rows, 5)
    at, p = at.astype(np.int64), p.astype(np.int64)
    out = {c: np.asarray(v)[p] for c, v in patients.items()}
    old = np.flatnonzero(np.array([d is not None for d in donor], dtype=bool))
    for col in cfg.generator["feed"]["demographic_updates"]["columns"]:
        out[col] = out[col].copy()
        out[col][old] = registry[col][donor[old].astype(np.int64)]
    return {**out, "event_id": event_id, "event_type": event, "updated_at": at,
            "delivery_date": local_days(at, cfg), SORT: at}


def feed_columns(name: str) -> list[str]:
    return columns(load_feed_contract(name))
