"""Orchestrator: one day, in the frozen order, validated, then published atomically.

    python data_generator/generate_daily_batch.py --date YYYY-MM-DD --mode raw|sample

registry -> encounters -> patients -> vitals -> labs -> notes -> validate -> publish.
Raw mode then saves the grown patient registry; sample mode never touches it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script path: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from data_generator import __version__  # noqa: E402
from data_generator.config import Config  # noqa: E402
from data_generator.contracts import contracts, file_name  # noqa: E402
from data_generator.errors import ContractError  # noqa: E402
from data_generator.generators import registry_store  # noqa: E402
from data_generator.generators.encounters import day_volume, generate_encounters  # noqa: E402
from data_generator.generators.labs import generate_labs  # noqa: E402
from data_generator.generators.notes import generate_notes  # noqa: E402
from data_generator.generators.patients import generate_patients  # noqa: E402
from data_generator.generators.physiology import build_physiology  # noqa: E402
from data_generator.generators.registry import derive_registry  # noqa: E402
from data_generator.generators.vitals import generate_vitals  # noqa: E402
from data_generator.publish import discard, publish_day, staging_dir  # noqa: E402
from data_generator.rng import stream  # noqa: E402
from data_generator.validate import validate_day  # noqa: E402
from data_generator.writer import write_table  # noqa: E402

MODES = ("raw", "sample")
PINNED = ("faker", "numpy")


@dataclass(frozen=True)
class DayResult:
    folder: Path
    rows: dict[str, int]
    new_patients: int


def day_folder(out_root: Path, mode: str, date: dt.date) -> Path:
    return Path(out_root) / mode / date.isoformat()


def with_seed(cfg: Config, seed: int | None) -> Config:
    if seed is None:
        return cfg
    return dataclasses.replace(cfg, generator={**cfg.generator, "seed": seed})


def build_day(cfg: Config, date: dt.date, mode: str, encounters: int | None = None):
    """All five tables for `date`, in the frozen order, plus the registry they came from."""
    seed, day = cfg.seed, date.isoformat()
    registry = derive_registry(cfg, date)                                     # 1
    n = encounters if encounters is not None else day_volume(
        cfg, date, mode, stream(seed, day, "volume"))
    enc = generate_encounters(cfg, date, registry, n, stream(seed, day, "encounters"))  # 2
    patients = generate_patients(registry, enc)                               # 3
    phys = build_physiology(cfg, enc, stream(seed, day, "physiology"))
    vitals = generate_vitals(cfg, date, enc, phys, stream(seed, day, "vitals"))  # 4
    labs = generate_labs(cfg, date, enc, phys, vitals, stream(seed, day, "labs"))  # 5
    notes = generate_notes(cfg, date, registry, enc, vitals, labs, stream(seed, day, "notes"))  # 6
    tables = {"patients": patients, "encounters": enc.table, "vitals": vitals.table,
              "labs": labs.table, "notes": notes}
    return registry, tables


def manifest(cfg: Config, date: dt.date, mode: str) -> dict:
    from importlib.metadata import version

    return {
        "batch_date": date.isoformat(),
        "mode": mode,
        "seed": cfg.seed,
        "generator_version": __version__,
        "config_digest": cfg.digest,
        "timezone": cfg.generator["hospital"]["timezone"],
        "libraries": {name: version(name) for name in PINNED},
        "contract_version": 1,
    }


def generate_day(cfg: Config, date: dt.date, mode: str, out_root: Path,
                 encounters: int | None = None, registry_path: Path | None = None) -> DayResult:
    """Generate, validate and publish one day; raw mode then saves the registry."""
    registry_path = registry_path or registry_store.DEFAULT_PATH
    if mode == "raw":
        registry_store.check_file(cfg, registry_path)
    registry, tables = build_day(cfg, date, mode, encounters)
    target = day_folder(out_root, mode, date)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target)
    try:
        rows = {}
        for name, schema in contracts().items():
            rows[name] = write_table(staging / file_name(schema), tables[name], schema, cfg.tz)
        report = validate_day(staging, date)
        if not report.ok:
            raise ContractError(f"{target}", "generated data breaks its contract; nothing published:\n  "
                                + "\n  ".join(report.summary(10)))
        publish_day(staging, target, manifest(cfg, date, mode))
    except BaseException:
        discard(staging)
        raise
    added = 0
    if mode == "raw":
        added = registry_store.save(cfg, registry, registry_path)
    new_today = int(np.sum(registry.registered == np.datetime64(date, "D")))
    return DayResult(target, rows, added if mode == "raw" else new_today)


if __name__ == "__main__":
    from data_generator.cli import main

    raise SystemExit(main(["generate", *sys.argv[1:]]))
