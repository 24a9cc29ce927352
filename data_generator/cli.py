"""The command line: `datagen generate|validate ...` (also `python -m data_generator ...`).

Every user-facing error is turned into one line and an exit code here, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
from pathlib import Path

from data_generator.errors import DataGenError, UsageError

MAX_FUTURE_YEARS = 50
MATCH_VIOLATIONS = 10_000_000  # violations kept to match against a dirty day's answer key
CONFIG_HELP = "generator config; scenarios and catalogues are found beside it (default config/generator.yaml)"
MODE_HELP = "raw: local daily data; sample: the committed demo day"
OUT_ROOT_HELP = "output root; a day is OUT_ROOT/<mode>/<date>/ (default data/)"


def parse_date(text: str, option: str = "--date") -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(option, "not a real calendar date in YYYY-MM-DD form", found=text,
                         hint=f"e.g. {option} 2026-01-15") from None


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, got {value}")
    return value


def _positive(text: str) -> int:
    """A count that may be 0 (a seed, an encounter override, violations to list)."""
    return _whole(text, 0)


def _one_or_more(text: str) -> int:
    """A count that must be at least 1 (workers, simulated encounters)."""
    return _whole(text, 1)


def _generation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path("config/generator.yaml"), help=CONFIG_HELP)
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="fmt",
                   help="csv: the contract's CSV/JSONL files (default); parquet: typed Parquet files")
    p.add_argument("--seed", type=_positive, help="override the config seed")
    p.add_argument("--encounters", type=_positive, help="override each day's encounter count")
    p.add_argument("--interventions", action="store_true",
                   help="also write interventions.csv (treatments and transfers; see its contract)")
    p.add_argument("--registry", type=Path,
                   help="raw-mode patient registry (default data_generator/state/patients_master.csv)")
    p.add_argument("--defects", metavar="PROFILE",
                   help="also write a dirty copy beside each day, <date>.dirty/, with its answer key _defects.jsonl: "
                        "PROFILE is light, realistic, hostile (config/defects/) or a profile file's path")


def _range_options(p: argparse.ArgumentParser) -> None:
    """Options of the exports that read every published day of a range."""
    p.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last day, YYYY-MM-DD (inclusive)")
    p.add_argument("--mode", choices=("raw", "sample"), default="raw", help=MODE_HELP + " (default raw)")
    p.add_argument("--out-root", type=Path, default=Path("data"),
                   help="where the days are (OUT_ROOT/<mode>/<date>/); the export goes beside them (default data/)")
    p.add_argument("--config", type=Path, default=Path("config/generator.yaml"),
                   help="the config whose codes the mapping must cover (default config/generator.yaml)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are the project's one-line UsageError, not usage text."""

    def error(self, message: str):
        raise UsageError(self.prog, message, hint=f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="datagen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                help="what to do; `datagen COMMAND --help` for its options")

    def common(p, mode_required=True):
        p.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
        p.add_argument("--mode", choices=("raw", "sample"), required=mode_required, default="raw",
                       help=MODE_HELP + ("" if mode_required else " (default raw)"))
        p.add_argument("--out-root", type=Path, default=Path("data"), help=OUT_ROOT_HELP)
        p.add_argument("--quiet", action="store_true", help="print nothing but errors")

    gen = sub.add_parser("generate", help="generate, validate and publish one day")
    common(gen)
    _generation_options(gen)
    gen.add_argument("--workers", type=_one_or_more, default=os.cpu_count() or 1,
                     help="processes charting the day's chunks of 1,000 encounters (default: one per core); "
                          "the files are the same for any number")

    back = sub.add_parser("backfill", help="generate every day of a date range, in parallel, resumable")
    back.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    back.add_argument("--end", required=True, help="last day, YYYY-MM-DD (inclusive)")
    back.add_argument("--mode", choices=("raw", "sample"), default="raw", help=MODE_HELP + " (default raw)")
    back.add_argument("--workers", type=_one_or_more, default=os.cpu_count() or 1,
                      help="parallel worker processes (default: one per core)")
    back.add_argument("--executor", choices=("process", "dask"), default="process",
                      help="process: a local process pool (default); dask: a dask.distributed cluster")
    back.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786")
    back.add_argument("--out-root", type=Path, default=Path("data"),
                      help="output root shared by all workers (default data/)")
    back.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    _generation_options(back)

    feed = sub.add_parser("feed", help="event-time daily feed of a date range: ADT events, upserts, late rows, "
                                       "corrections (OUT_ROOT/feed/<mode>/<date>/)")
    feed.add_argument("--start", required=True, help="first feed day, YYYY-MM-DD")
    feed.add_argument("--end", required=True, help="last feed day, YYYY-MM-DD (inclusive)")
    feed.add_argument("--mode", choices=("raw", "sample"), required=True,
                      help="which batches the feed is cut from: " + MODE_HELP)
    feed.add_argument("--out-root", type=Path, default=Path("data"),
                      help="output root; a feed day is OUT_ROOT/feed/<mode>/<date>/ (default data/)")
    feed.add_argument("--workers", type=_one_or_more, default=os.cpu_count() or 1,
                      help="parallel worker processes (default: one per core)")
    feed.add_argument("--config", type=Path, default=Path("config/generator.yaml"), help=CONFIG_HELP)
    feed.add_argument("--seed", type=_positive, help="override the config seed")
    feed.add_argument("--encounters", type=_positive,
                      help="override each admission day's encounter count (as for generate)")
    feed.add_argument("--defects", metavar="PROFILE",
                      help="also write a dirty copy beside each feed day, <date>.dirty/, with its answer key "
                           "_defects.jsonl (the feed's own late rows and corrections listed too): "
                           "PROFILE as for generate")
    feed.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    prev = sub.add_parser("preview", help="plot a scenario's trajectories (PNG), touching no data or registry")
    prev.add_argument("--scenario", required=True, help="scenario name (file name in config/scenarios/)")
    prev.add_argument("--n", type=_one_or_more, default=20, help="encounters to simulate (default 20)")
    prev.add_argument("--seed", type=_positive, help="override the config seed")
    prev.add_argument("--config", type=Path, default=Path("config/generator.yaml"), help=CONFIG_HELP)
    prev.add_argument("--out", type=Path, help="PNG path (default preview_<scenario>.png)")

    rep = sub.add_parser("report", help="self-contained HTML report of a published day")
    rep.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    rep.add_argument("--mode", choices=("raw", "sample"), default="raw", help=MODE_HELP + " (default raw)")
    rep.add_argument("--out-root", type=Path, default=Path("data"), help=OUT_ROOT_HELP)
    rep.add_argument("--out", type=Path, help="HTML path (default <day folder>.report.html)")
    rep.add_argument("--config", type=Path, default=Path("config/generator.yaml"),
                     help="config whose normal ranges and NEWS2 bands the plots use (default config/generator.yaml)")

    exp = sub.add_parser("export-fhir", help="write a published day as FHIR R4 bulk-data NDJSON")
    common(exp, mode_required=False)
    exp.add_argument("--mapping", type=Path, default=Path("config/reference/fhir.yaml"),
                     help="contract columns to FHIR codes and fields (default config/reference/fhir.yaml)")

    omop = sub.add_parser("export-omop", help="write the published days of a range as OMOP CDM 5.4 tables")
    _range_options(omop)
    omop.add_argument("--format", choices=("csv", "parquet", "duckdb"), default="csv", dest="fmt",
                      help="csv (default), parquet, or one DuckDB database (needs the duckdb package)")
    omop.add_argument("--mapping", type=Path, default=Path("config/reference/omop.yaml"),
                      help="concept IDs for every code the generator writes (default config/reference/omop.yaml)")

    meds = sub.add_parser("export-meds", help="write the published days of a range as a MEDS dataset")
    _range_options(meds)
    meds.add_argument("--settings", type=Path, default=Path("config/reference/meds.yaml"),
                      help="MEDS codes, descriptions and splits (default config/reference/meds.yaml)")
    meds.add_argument("--mapping", type=Path, default=Path("config/reference/omop.yaml"),
                      help="the vitals' codes and OMOP parent concepts (default config/reference/omop.yaml)")

    reg = sub.add_parser("registry", help="manage the raw-mode patient registry")
    reg.add_argument("action", choices=("restore",), help="restore: put the backup kept at the last update back")
    reg.add_argument("--registry", type=Path, help="registry file (default data_generator/state/patients_master.csv)")

    val = sub.add_parser("validate", help="check a day folder against the contracts: PATH, or --date and --mode")
    val.add_argument("path", nargs="?", type=Path, metavar="PATH",
                     help="a day folder anywhere; its batch date is its manifest's, else its name's (YYYY-MM-DD)")
    val.add_argument("--date", help="the batch date, YYYY-MM-DD: with PATH, check against this date instead; "
                                    "without PATH, the day OUT_ROOT/<mode>/<date>/")
    val.add_argument("--mode", choices=("raw", "sample"), help=MODE_HELP + " (without PATH; required then)")
    val.add_argument("--out-root", type=Path, help="without PATH: " + OUT_ROOT_HELP)
    val.add_argument("--quiet", action="store_true", help="print nothing when the day is clean")
    val.add_argument("--show", type=_positive, default=20, help="violations to list (default 20)")

    dq = sub.add_parser("dq-score", help="precision and recall of a data-quality tool's flags against a dirty "
                                         "day's answer key")
    dq.add_argument("--truth", required=True, type=Path,
                    help="the answer key: a dirty day folder or its _defects.jsonl")
    dq.add_argument("--flags", required=True, type=Path,
                    help="the tool's findings: CSV with file, key and/or line, optional column and class "
                         "(or a JSONL file shaped like the answer key)")
    dq.add_argument("--json", type=Path, metavar="PATH", help="also write the scores as JSON to PATH")
    return parser


def _checked_date(cfg, text: str, option: str = "--date") -> dt.date:
    from data_generator.generators.registry import registered_count

    date = parse_date(text, option)
    if date < cfg.start_date:
        raise UsageError(option, f"is before the registry's start_date ({cfg.start_date})",
                         found=text, hint="pick a later date or set registry.start_date")
    if date.year > cfg.start_date.year + MAX_FUTURE_YEARS:
        raise UsageError(option, f"is more than {MAX_FUTURE_YEARS} years after registry.start_date", found=text)
    if registered_count(cfg, date) == 0:
        raise UsageError(option, "no patients are registered by this date", found=text)
    return date


def _generate(args) -> int:
    from data_generator.config import load_config
    from data_generator.pipeline import generate_day, with_seed

    parse_date(args.date)
    if args.mode == "sample" and args.registry:
        raise UsageError("--registry", "contradicts --mode sample, which never reads or writes a registry",
                         hint="drop --registry or use --mode raw")
    cfg = with_seed(load_config(args.config), args.seed)
    date = _checked_date(cfg, args.date)
    profile = _defect_profile(args)
    result = generate_day(cfg, date, args.mode, args.out_root, args.encounters, args.registry, fmt=args.fmt,
                          interventions=args.interventions, workers=args.workers)
    if not args.quiet:
        counts = ", ".join(f"{n} {name}" for name, n in result.rows.items())
        reg = f"; registry +{result.new_patients} patients" if args.mode == "raw" else ""
        print(f"wrote {result.folder}: {counts}{reg}")
    if profile is not None:
        from data_generator.defects import apply_defects

        dirty = apply_defects(result.folder, profile)
        if not args.quiet:
            counts = ", ".join(f"{n} {name}" for name, n in dirty.counts.items()) or "none"
            print(f"wrote {dirty.folder}: {sum(dirty.counts.values())} defects ({counts}), answer key _defects.jsonl")
    if result.registry_full:
        print(f"datagen: note: the registry is full (registry.max_total = {cfg.generator['registry']['max_total']}); "
              "the day's encounters all went to existing patients", file=sys.stderr)
    held = result.rows.get("encounters", 0)
    if args.encounters is not None and held < args.encounters:
        print(f"datagen: note: the day holds {held} encounters, not {args.encounters}: only that many registered "
              "patients were alive and out of hospital (a later date or a larger registry holds more)",
              file=sys.stderr)
    return 0


def _defect_profile(args):
    """The --defects profile, loaded and checked before any day is written (None without it)."""
    from data_generator.defects import load_profile

    if args.defects is None:
        return None
    if getattr(args, "fmt", "csv") != "csv":  # a feed is CSV/JSONL only
        raise UsageError("--defects", "applies to CSV days only", found=f"--format {args.fmt}",
                         hint="drop --format parquet, or drop --defects")
    return load_profile(args.defects, args.config.parent)


def _backfill(args) -> int:
    from data_generator.backfill import Progress, backfill, date_range
    from data_generator.config import load_config
    from data_generator.generators.registry import registered_count
    from data_generator.pipeline import with_seed

    parse_date(args.start, "--start")
    parse_date(args.end, "--end")
    if args.executor == "process" and args.scheduler:
        raise UsageError("--scheduler", "only applies to --executor dask", hint="add --executor dask or drop it")
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--scheduler", "required with --executor dask", hint="e.g. tcp://10.0.0.5:8786")
    if args.mode == "sample" and args.registry:
        raise UsageError("--registry", "contradicts --mode sample, which never reads or writes a registry")
    cfg = with_seed(load_config(args.config), args.seed)
    start, end = _checked_date(cfg, args.start, "--start"), _checked_date(cfg, args.end, "--end")
    profile = _defect_profile(args)
    bar = Progress(len(date_range(start, end)), args.quiet)
    try:
        result = backfill(args.config, start, end, args.mode, args.out_root, workers=args.workers, seed=args.seed,
                          encounters=args.encounters, registry_path=args.registry, executor=args.executor,
                          scheduler=args.scheduler, fmt=args.fmt, progress=bar,
                          interventions=args.interventions, defects=None if profile is None else profile.path)
    finally:
        bar.close()
    if registered_count(cfg, end) >= cfg.generator["registry"]["max_total"]:
        print(f"datagen: note: the registry is full (registry.max_total = {cfg.generator['registry']['max_total']}); "
              "later days' encounters all went to existing patients", file=sys.stderr)
    if not args.quiet:
        reg = f"; registry +{result.new_patients} patients" if args.mode == "raw" else ""
        dirty = f", each with its dirty copy ({profile.name})" if profile is not None else ""
        print(f"backfill {start}..{end}: {len(result.done)} days written{dirty}, {len(result.skipped)} already "
              f"up to date, {result.rows:,} rows{reg}")
    return 0


def _feed(args) -> int:
    from data_generator.backfill import Progress, date_range
    from data_generator.config import load_config
    from data_generator.feed import FEED_DIR, feed_backfill
    from data_generator.pipeline import with_seed

    parse_date(args.start, "--start")
    parse_date(args.end, "--end")
    cfg = with_seed(load_config(args.config), args.seed)
    start, end = _checked_date(cfg, args.start, "--start"), _checked_date(cfg, args.end, "--end")
    profile = _defect_profile(args)
    bar = Progress(len(date_range(start, end)), args.quiet)
    try:
        result = feed_backfill(args.config, start, end, args.mode, args.out_root, workers=args.workers,
                               seed=args.seed, encounters=args.encounters, progress=bar,
                               defects=None if profile is None else profile.path)
    finally:
        bar.close()
    if not args.quiet:
        dirty = f", each with its dirty copy ({profile.name})" if profile is not None else ""
        print(f"feed {start}..{end} in {args.out_root / FEED_DIR / args.mode}: {len(result.done)} days written{dirty}, "
              f"{len(result.skipped)} already up to date, {result.rows:,} rows")
    return 0


def _existing_day(args) -> tuple[dt.date, Path]:
    """The --date/--mode/--out-root day folder, which must exist."""
    return _dated_day(args.date, args.mode, args.out_root)


def _dated_day(date_text: str, mode: str, out_root: Path) -> tuple[dt.date, Path]:
    from data_generator.pipeline import day_folder

    date = parse_date(date_text)
    folder = day_folder(out_root, mode, date)
    if not folder.is_dir():
        raise UsageError(str(folder), "no such day folder", hint="generate it first, or check --out-root/--mode")
    return date, folder


def _day_to_validate(args) -> tuple[dt.date, Path]:
    """The folder `validate` checks and its batch date: PATH (the date given, or the one the
    folder states), or the day at OUT_ROOT/<mode>/<date>/."""
    from data_generator.validation import stated_batch_date

    if args.path is None:
        if args.date is None:
            raise UsageError("validate", "needs a day folder PATH, or --date and --mode",
                             hint="e.g. `datagen validate data/sample/2026-01-15`")
        if args.mode is None:
            raise UsageError("--mode", "is required with --date when no PATH is given",
                             hint="add --mode raw or --mode sample, or give the day folder as PATH")
        return _dated_day(args.date, args.mode, args.out_root or Path("data"))
    for option, value in (("--mode", args.mode), ("--out-root", args.out_root)):
        if value is not None:
            raise UsageError(option, "only applies without PATH (it locates OUT_ROOT/<mode>/<date>/)",
                             hint=f"drop {option}, or drop PATH")
    folder = _day_folder_at(args.path)
    date = parse_date(args.date) if args.date is not None else stated_batch_date(folder)
    if date is None:
        raise UsageError(str(folder), "no batch date: no manifest batch_date, and the folder name is not "
                         "YYYY-MM-DD", hint="give it with --date YYYY-MM-DD")
    return date, folder


def _day_folder_at(path: Path) -> Path:
    """`path`, which must be a folder holding a day (a manifest or any contracted file)."""
    from data_generator.validation import holds_a_day

    if not path.exists():
        raise UsageError(str(path), "no such folder")
    if not path.is_dir():
        raise UsageError(str(path), "not a folder", hint="give the day folder that holds it")
    if not holds_a_day(path):
        try:
            inner = next((p for p in sorted(path.iterdir()) if p.is_dir() and holds_a_day(p)), None)
        except OSError:
            inner = None
        raise UsageError(str(path), "not a day folder (no _manifest.json and none of the contracted files)",
                         hint=f"it holds day folders: give one, e.g. {inner}" if inner
                         else "give a folder that `datagen generate` wrote, e.g. data/sample/2026-01-15")
    return path


def _validate(args) -> int:
    from data_generator.defects.catch import TRUTH, catch_report, read_truth
    from data_generator.reading import is_feed_day
    from data_generator.validation import validate_day, validate_feed_day

    date, folder = _day_to_validate(args)
    dirty = (folder / TRUTH).is_file()
    limit = MATCH_VIOLATIONS if dirty else 10000
    if is_feed_day(folder):
        report = validate_feed_day(folder, date, max_violations=limit)
    else:
        report = validate_day(folder, date, max_violations=limit)
    lines = report.summary(args.show)
    if dirty:  # a dirty day: say which of its injected defects the contracts caught
        lines += catch_report(read_truth(folder), report.violations).lines()
    if not args.quiet or not report.ok:
        print(f"{folder}:")
        for line in lines:
            print(f"  {line}")
    return 0 if report.ok else 1


def _dq_score(args) -> int:
    import json

    from data_generator.defects.score import read_flags, read_truth, score

    result = score(read_truth(args.truth), read_flags(args.flags))
    for line in result.table():
        print(line)
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(str(args.json), f"cannot write: {exc.strerror}") from None
    return 0


def _plots_missing(exc: ImportError) -> UsageError:
    return UsageError("plots", f"matplotlib/pandas not installed ({exc.name})",
                      hint="pip install 'clinical-data-generator[plots]'")


def _preview(args) -> int:
    from data_generator.config import load_config
    from data_generator.pipeline import with_seed

    try:
        from data_generator.preview import render_preview
    except ImportError as exc:
        raise _plots_missing(exc) from None
    cfg = with_seed(load_config(args.config), args.seed)
    out = args.out or Path(f"preview_{args.scenario}.png")
    result = render_preview(cfg, args.scenario, out, n=args.n)
    print(f"wrote {result.path} ({result.size[0]}x{result.size[1]}, {args.n} encounters: "
          + ", ".join(f"{n} {b}" for b, n in result.branches.items()) + ")")
    return 0


def _report(args) -> int:
    try:
        from data_generator.report import render_report
    except ImportError as exc:
        raise _plots_missing(exc) from None
    _, folder = _existing_day(args)
    print(f"wrote {render_report(folder, args.out, config=args.config)}")
    return 0


def _export_fhir(args) -> int:
    from data_generator.exporters.fhir import export_day
    from data_generator.validation import validate_day

    date, folder = _existing_day(args)
    validate_day(folder, date).raise_if_failed()  # export only what meets the contracts
    out = folder.with_name(f"{date.isoformat()}.fhir")
    counts = export_day(folder, out, args.mapping)
    if not args.quiet:
        print(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def _export_range(args, kind: str):
    """The checked days of --start..--end and the export folder OUT_ROOT/<kind>/<mode>/<start>_<end>/."""
    from data_generator.config import load_config
    from data_generator.exporters.research import published_days

    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    cfg = load_config(args.config)
    days = published_days(args.out_root, args.mode, start, end)
    return cfg, days, Path(args.out_root) / kind / args.mode / f"{start.isoformat()}_{end.isoformat()}"


def _export_omop(args) -> int:
    from data_generator.exporters.omop import export_omop, load_mapping

    cfg, days, out = _export_range(args, "omop")
    manifest = export_omop(days, out, load_mapping(cfg, args.mapping), cfg, fmt=args.fmt)
    if not args.quiet:
        print(f"wrote {out}: " + ", ".join(f"{n} {k}" for k, n in manifest["tables"].items()))
    return 0


def _export_meds(args) -> int:
    from data_generator.exporters.meds import export_meds, load_settings
    from data_generator.exporters.omop import load_mapping

    cfg, days, out = _export_range(args, "meds")
    manifest = export_meds(days, out, load_settings(args.settings), load_mapping(cfg, args.mapping), cfg)
    if not args.quiet:
        print(f"wrote {out}: {manifest['events']} events of {manifest['subjects']} subjects, {manifest['codes']} codes")
    return 0


def _registry(args) -> int:
    from data_generator import registry_store
    from data_generator.locks import exclusive, registry_lock

    path = Path(args.registry or registry_store.DEFAULT_PATH)
    with exclusive(registry_lock(path), f"registry {path}"):
        n = registry_store.restore(path)
    print(f"restored {path} from its backup: {n} patients")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM cleans up exactly like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args = _parser().parse_args(argv)
        if args.command in ("generate", "backfill", "feed"):  # no pandas objects go to pyarrow here
            from data_generator.writer import arrow_without_pandas

            arrow_without_pandas()
        commands = {"generate": _generate, "backfill": _backfill, "feed": _feed, "validate": _validate,
                    "registry": _registry, "preview": _preview, "report": _report, "export-fhir": _export_fhir,
                    "export-omop": _export_omop, "export-meds": _export_meds, "dq-score": _dq_score}
        return commands[args.command](args)
    except DataGenError as exc:
        print(f"datagen: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("datagen: interrupted; the last complete day and registry are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
