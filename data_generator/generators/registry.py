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
def _faker_pools(seed: int) -> dict[str, tuple]:
    """Names and places drawn once per seed (Faker's en_US values: the one `hospital.locale`);
    patients pick from them with numpy."""
    fake = Draws(int_seed(seed, "faker", "pools"))
    n = POOL_SIZES
    places = tuple(fake.place() for _ in range(n["place"]))
    return {
        "first_f": tuple(fake.first_name_female() for _ in range(n["first_f"])),
        "first_m": tuple(fake.first_name_male() for _ in range(n["first_m"])),
        "last": tuple(fake.last_name() for _ in range(n["last"])),
        "street": tuple(fake.street_address() for _ in range(n["street"])),
        "place": places,
    }


def derive_block(cfg: Config, block: int) -> dict[str, np.ndarray]:
    reg = cfg.generator["registry"]
    rng = stream(cfg.seed, "registry", block)
    pools = _faker_pools(cfg.seed)
    k = np.arange(block * BLOCK, (block + 1) * BLOCK, dtype=np.int64)
    registered = np.datetime64(cfg.start_date, "D") + (k // reg["new_patients_per_day"])
    male = rng.random(BLOCK) < reg["male_share"]
    age = reg["age"]
    years = np.clip(rng.normal(age["mean"], age["sd"], BLOCK), age["min"], age["max"])
    dob = registered - np.round(years * 365.25).astype(np.int64) - rng.integers(0, 365, BLOCK)
    first = np.where(male,
                     np.asarray(pools["first_m"], dtype=object)[rng.integers(0, POOL_SIZES["first_m"], BLOCK)],
                     np.asarray(pools["first_f"], dtype=object)[rng.integers(0, POOL_SIZES["first_f"], BLOCK)])
    places = np.asarray(pools["place"], dtype=object)[rng.integers(0, POOL_SIZES["place"], BLOCK)]
    phone = rng.integers([200, 200, 0], [1000, 1000, 10000], size=(BLOCK, 3))
    mrn = (k * MRN_MULTIPLIER + 1_234_567) % MRN_SPACE
    return {
        "patient_id": np.strings.add("P", np.strings.zfill((k + 1).astype(str), 7)),
        "mrn": np.strings.add("MRN", np.strings.zfill(mrn.astype(str), 7)),
        "first_name": first,
        "last_name": np.asarray(pools["last"], dtype=object)[rng.integers(0, POOL_SIZES["last"], BLOCK)],
        "sex": np.where(male, "M", "F"),
        "date_of_birth": dob,
        "address": np.asarray(pools["street"], dtype=object)[rng.integers(0, POOL_SIZES["street"], BLOCK)],
        "city": np.array([p[0] for p in places], dtype=object),
        "state": np.array([p[1] for p in places], dtype=object),
        "zip": np.array([p[2] for p in places], dtype=object),
        "phone": np.array([f"({a}) {b}-{c:04d}" for a, b, c in phone.tolist()], dtype=object),
        "registered_date": registered,
        "_frailty": rng.lognormal(0.0, reg["frailty_sigma"], BLOCK),
    }


def derive_registry(cfg: Config, date: dt.date) -> Registry:
    """The registry as of `date`, derived from the seed alone."""
    n = registered_count(cfg, date)
    blocks = [derive_block(cfg, b) for b in range(-(-n // BLOCK))]
    cols = {key: np.concatenate([b[key] for b in blocks])[:n] if blocks else np.array([])
            for key in (blocks[0] if blocks else derive_block(cfg, 0))}
    frailty = cols.pop("_frailty").astype(float)
    day = np.datetime64(date, "D")
    age = ((day - cols["date_of_birth"].astype("datetime64[D]")).astype(np.int64) / 365.25)
    return Registry(cols, age, frailty, cols["registered_date"].astype("datetime64[D]"))
