"""Patient-timeline figures of a backfill: overlapping stays, encounters after death, readmission, mortality.

Computes each day of the range on its own (as a backfill does), writes its encounters.csv with
the contract writer and reads them all back with pandas, then reports what an analyst would.

    .venv/bin/python benchmarks/timelines.py [--end 2026-01-15] [--days 90] [--mode raw]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from data_generator.config import load_config
    from data_generator.contracts import load_contract
    from data_generator.generators.encounters import day_encounters
    from data_generator.generators.registry import derive_registry
    from data_generator.writer import write_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 1, 15))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--mode", choices=("raw", "sample"), default="raw")
    args = parser.parse_args()
    cfg = load_config(ROOT / "config" / "generator.yaml")
    schema = load_contract("encounters")
    with tempfile.TemporaryDirectory() as out:
        for k in range(args.days):
            date = args.end - dt.timedelta(days=args.days - 1 - k)
            enc = day_encounters(cfg, date, args.mode, derive_registry(cfg, date))
            write_table(Path(out) / f"{date}.csv", enc.table, schema, cfg.tz)
        f = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(Path(out).glob("*.csv"))], ignore_index=True)
    for col in ("admit_time", "discharge_time"):
        f[col] = pd.to_datetime(f[col], utc=True)
    f = f.sort_values(["patient_id", "admit_time"]).reset_index(drop=True)
    same = f["patient_id"].shift(-1) == f["patient_id"]
    nxt = f["admit_time"].shift(-1).where(same)
    dead = f["discharge_disposition"] == "expired"
    live = ~dead & (f["discharge_time"] <= f["discharge_time"].max() - pd.Timedelta(days=30))
    back = (nxt - f["discharge_time"]).dt.total_seconds() <= 30 * 86400
    print(f"{args.days} {args.mode} days to {args.end}: {len(f):,} encounters ({len(f) / args.days:.1f}/day), "
          f"{f['patient_id'].nunique():,} patients")
    print(f"overlapping stays: {int((nxt < f['discharge_time']).sum())}; "
          f"encounters after a death: {int((nxt.notna() & dead).sum())}")
    print(f"in-hospital mortality: {dead.mean():.1%}; 30-day readmission of live discharges: "
          f"{back[live].mean():.1%} (of {int(live.sum()):,})")
    by = back[live].groupby(f.loc[live, "scenario"]).agg(["mean", "size"]).sort_values("mean", ascending=False)
    for name, row in by.iterrows():
        print(f"  {name:<20}{row['mean']:>7.1%}  of {int(row['size']):>5,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
