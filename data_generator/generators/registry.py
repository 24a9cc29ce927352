"""Step 1: the patient registry.

Patient number k (0-based) is registered on `start_date + k // new_patients_per_day` and is
fully determined by the seed and k, so the registry as of any date can be derived without
running earlier days. Raw mode persists it in `data_generator/state/patients_master.csv`;
sample mode derives it in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import numpy as np

from data_generator.config import Config
from data_generator.generators.faker_pools import Draws
from data_generator.generators.timeline import write_digits
from data_generator.rng import int_seed, stream

BLOCK = 1024              # patients derived together from one RNG stream
MRN_MULTIPLIER = 3_944_819  # coprime with 10**7, so k -> MRN is a bijection
MRN_SPACE = 10**7
POOL_SIZES = {"first_f": 700, "first_m": 700, "last": 1500, "street": 2500, "place": 600}


@dataclass(frozen=True)
class Registry:
    """Every patient registered on or before the day, in patient-number order."""

    table: dict[str, np.ndarray]  # patients-contract columns
    age_years: np.ndarray         # age on the day, for matching scenarios
    frailty: np.ndarray           # relative chance of coming back
    registered: np.ndarray        # datetime64[D]

    def __len__(self) -> int:
        return len(self.age_years)


def registered_count(cfg: Config, date: dt.date) -> int:
    reg = cfg.generator["registry"]
    days = (date - cfg.start_date).days + 1
    return max(0, min(reg["max_total"], days * reg["new_patients_per_day"]))


@cache
def _faker_pools(seed: int, locale: str) -> dict[str, tuple]:
    """Names and places drawn once per seed (Faker's values for `hospital.locale`); patients pick
    from them with numpy."""
    fake = Draws(int_seed(seed, "faker", "pools"), locale)
    n = POOL_SIZES
    places = tuple(fake.place() for _ in range(n["place"]))
    return {
        "first_f": tuple(fake.first_name_female() for _ in range(n["first_f"])),
        "first_m": tuple(fake.first_name_male() for _ in range(n["first_m"])),
        "last": tuple(fake.last_name() for _ in range(n["last"])),
        "street": tuple(fake.street_address() for _ in range(n["street"])),
        "place": places,
    }


@cache
def _pool_arrays(seed: int, locale: str) -> dict[str, np.ndarray]:
    """The pools as object arrays, the places split into city, state and zip."""
    pools = _faker_pools(seed, locale)
    out = {name: np.array(pools[name], dtype=object) for name in ("first_f", "first_m", "last", "street")}
    for i, name in enumerate(("city", "state", "zip")):
        out[name] = np.array([place[i] for place in pools["place"]], dtype=object)
    return out


def _draw_block(cfg: Config, block: int, people_only: bool = False) -> dict[str, np.ndarray]:
    """Patient block `block`'s draws, in the order of its stream: sex, age and day of birth
    (all that `people_only` asks for), then the pool indices, phone digits and frailty."""
    reg = cfg.generator["registry"]
    rng = stream(cfg.seed, "registry", block)
    k = np.arange(block * BLOCK, (block + 1) * BLOCK, dtype=np.int64)
    registered = np.datetime64(cfg.start_date, "D") + (k // reg["new_patients_per_day"])
    male = rng.random(BLOCK) < reg["male_share"]
    age = reg["age"]
    years = np.clip(rng.normal(age["mean"], age["sd"], BLOCK), age["min"], age["max"])
    dob = registered - np.round(years * 365.25).astype(np.int64) - rng.integers(0, 365, BLOCK)
    out = {"registered": registered, "male": male, "dob": dob}
    if people_only:
        return out
    for name in ("first_m", "first_f", "place"):
        out[name] = rng.integers(0, POOL_SIZES[name], BLOCK)
    out["phone"] = rng.integers([200, 200, 0], [1000, 1000, 10000], size=(BLOCK, 3))
    for name in ("last", "street"):
        out[name] = rng.integers(0, POOL_SIZES[name], BLOCK)
    out["frailty"] = rng.lognormal(0.0, reg["frailty_sigma"], BLOCK)
    return out


def _draws(cfg: Config, n: int, people_only: bool = False) -> dict[str, np.ndarray]:
    """Patients 0..n-1's draws, block by block."""
    blocks = [_draw_block(cfg, b, people_only) for b in range(max(1, -(-n // BLOCK)))]
    return {key: np.concatenate([b[key] for b in blocks])[:n] for key in blocks[0]}


def people(cfg: Config, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patients 0..n-1's registration day, day of birth (datetime64[D]) and whether male."""
    d = _draws(cfg, n, people_only=True)
    return d["registered"], d["dob"], d["male"]


def _text(n: int, *pieces: str | tuple[np.ndarray, int]) -> np.ndarray:
    """`n` strings of one width, each the concatenation of `pieces`: literal text, or (numbers below
    10**width, width) written with leading zeros."""
    width = sum(len(p) if isinstance(p, str) else p[1] for p in pieces)
    chars = np.empty((n, width), dtype=np.uint32)  # code points
    at = 0
    for piece in pieces:
        if isinstance(piece, str):
            chars[:, at:at + len(piece)] = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
            at += len(piece)
        else:
            numbers, size = piece
            write_digits(chars[:, at:at + size], numbers)
            at += size
    return chars.view(f"<U{width}").reshape(n)


def derive_registry(cfg: Config, date: dt.date) -> Registry:
    """The registry as of `date`, derived from the seed alone."""
    n = registered_count(cfg, date)
    d = _draws(cfg, n)
    pools = _pool_arrays(cfg.seed, cfg.generator["hospital"]["locale"])
    k = np.arange(n, dtype=np.int64)
    mrn = (k * MRN_MULTIPLIER + 1_234_567) % MRN_SPACE
    place = d["place"]
    table = {
        "patient_id": _text(n, "P", (k + 1, 7)),  # registry.max_total has at most 7 digits
        "mrn": _text(n, "MRN", (mrn, 7)),
        "first_name": np.where(d["male"], pools["first_m"][d["first_m"]], pools["first_f"][d["first_f"]]),
        "last_name": pools["last"][d["last"]],
        "sex": np.where(d["male"], "M", "F"),
        "date_of_birth": d["dob"],
        "address": pools["street"][d["street"]],
        "city": pools["city"][place],
        "state": pools["state"][place],
        "zip": pools["zip"][place],
        "phone": _phone(d["phone"]),
        "registered_date": d["registered"],
    }
    age = (np.datetime64(date, "D") - d["dob"]).astype(np.int64) / 365.25
    return Registry(table, age, d["frailty"], d["registered"])


def _phone(digits: np.ndarray) -> np.ndarray:
    """`(555) 555-0100` per row of (area, exchange, line) numbers, as Python strings."""
    area, exchange, line = digits.T
    return _text(len(digits), "(", (area, 3), ") ", (exchange, 3), "-", (line, 4)).astype(object)
