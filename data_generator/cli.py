"""The command line: `datagen generate|validate ...` (also `python -m data_generator ...`).

Every user-facing error is turned into one line and an exit code here, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from data_generator.errors import DataGenError, UsageError

MAX_FUTURE_YEARS = 50


def parse_date(text: str) -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError("--date", "not a real calendar date in YYYY-MM-DD form", found=text,
                         hint="e.g. --date 2026-01-15") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datagen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, mode_required=True):
        p.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
        p.add_argument("--mode", choices=("raw", "sample"), required=mode_required, default="raw",
                       help="raw: local daily data; sample: the committed demo day")
        p.add_argument("--out-root", type=Path, default=Path("data"),
                       help="output root; a day goes to OUT_ROOT/<mode>/<date>/ (default data/)")
        p.add_argument("--quiet", action="store_true", help="print nothing but errors")

    gen = sub.add_parser("generate", help="generate, validate and publish one day")
    common(gen)
    gen.add_argument("--config", type=Path, default=Path("config/generator.yaml"))
    gen.add_argument("--seed", type=_positive, help="override the config seed")
    gen.add_argument("--encounters", type=_positive, help="override the day's encounter count")
    gen.add_argument("--registry", type=Path,
                     help="raw-mode patient registry (default data_generator/state/patients_master.csv)")

    val = sub.add_parser("validate", help="check a written day folder against the contracts")
    common(val)
    val.add_argument("--show", type=_positive, default=20, help="violations to list (default 20)")
    return parser


def _generate(args) -> int:
    from data_generator.config import load_config
    from data_generator.generate_daily_batch import generate_day, with_seed
    from data_generator.generators.registry import registered_count

    date = parse_date(args.date)
    cfg = with_seed(load_config(args.config), args.seed)
    if date < cfg.start_date:
        raise UsageError("--date", f"is before the registry's start_date ({cfg.start_date})",
                         found=args.date, hint="pick a later date or set registry.start_date")
    if date.year > cfg.start_date.year + MAX_FUTURE_YEARS:
        raise UsageError("--date", f"is more than {MAX_FUTURE_YEARS} years after registry.start_date",
                         found=args.date)
    if registered_count(cfg, date) == 0:
        raise UsageError("--date", "no patients are registered by this date", found=args.date)
    result = generate_day(cfg, date, args.mode, args.out_root, args.encounters, args.registry)
    if not args.quiet:
        counts = ", ".join(f"{n} {name}" for name, n in result.rows.items())
        reg = f"; registry +{result.new_patients} patients" if args.mode == "raw" else ""
        print(f"wrote {result.folder}: {counts}{reg}")
    return 0


def _validate(args) -> int:
    from data_generator.generate_daily_batch import day_folder
    from data_generator.validate import validate_day

    date = parse_date(args.date)
    folder = day_folder(args.out_root, args.mode, date)
    if not folder.is_dir():
        raise UsageError(str(folder), "no such day folder", hint="generate it first, or check --out-root/--mode")
    report = validate_day(folder, date)
    lines = report.summary(args.show)
    if not args.quiet or not report.ok:
        print(f"{folder}:")
        for line in lines:
            print(f"  {line}")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        return _validate(args)
    except DataGenError as exc:
        print(f"datagen: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("datagen: interrupted; nothing was published", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
