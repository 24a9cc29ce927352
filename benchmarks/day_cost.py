"""How a day's cost depends on the days before it: registry + timelines + encounters, then the whole day.

A day is derived from the seed, the date and the config alone: the timelines of the patients who
may be admitted that day (`lifetimes.day_lives`), not everyone's. Prints, per date, the registry,
the stays every patient has had so far (for scale), the patients the day derives, and seconds
(best of `--repeat`) for the registry and for timelines + encounters, in raw mode at the
configured volume. Figures are what this machine did.

    .venv/bin/python benchmarks/day_cost.py [--days 30 365 730 1460] [--full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from data_generator.config import load_config
    from data_generator.generators.encounters import day_encounters
    from data_generator.generators.lifetimes import day_lives, derive_lives
    from data_generator.generators.registry import derive_registry
    from data_generator.pipeline import generate_day

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[30, 365, 730, 1460],
                        help="days after registry.start_date")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time the whole day (write, validate, publish)")
    args = parser.parse_args()
    cfg = load_config(ROOT / "config" / "generator.yaml")
    print(f"{'date':<12}{'days before':>12}{'registered':>12}{'stays so far':>14}{'derived':>10}{'encounters':>12}"
          f"{'registry s':>12}{'timelines s':>13}" + (f"{'whole day s':>13}" if args.full else ""))
    for k in args.days:
        date = cfg.start_date + dt.timedelta(days=k)
        best_reg = best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            registry = derive_registry(cfg, date)
            mid = time.perf_counter()
            enc = day_encounters(cfg, date, "raw", registry)
            best_reg, best = min(best_reg, mid - start), min(best, time.perf_counter() - mid)
        stays = len(derive_lives(cfg, "raw", registry, date).stays.patient)
        derived = np.unique(day_lives(cfg, "raw", registry, date).stays.patient).size
        line = (f"{date.isoformat():<12}{k:>12,}{len(registry):>12,}{stays:>14,}{derived:>10,}{len(enc):>12,}"
                f"{best_reg:>12.3f}{best:>13.3f}")
        if args.full:
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                generate_day(cfg, date, "raw", Path(out), registry_path=Path(out) / "reg.csv", save_registry=False)
                line += f"{time.perf_counter() - start:>13.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
