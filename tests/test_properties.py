"""Property-based tests: any documented config and date gives a valid day or a clean refusal;
the validator never crashes on corrupted bytes and reports every byte change."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from data_generator.cli import main
from data_generator.config import load_config
from data_generator.contracts import FILES, contracts, file_name
from data_generator.pipeline import generate_day
from data_generator.publish import MANIFEST
from data_generator.validation import Report, validate_day
from tests.conftest import CONFIG, copy_config

# CI profiles kept in this module (no conftest): few examples, no deadline, derandomised so a
# CI run is the same run every time, and no example database written into the repository.
# Examples that generate a day take about a second each, so those profiles skip shrinking (it
# can run for minutes); a failure prints the unshrunk example, which reproduces as it is.
CI = dict(deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NO_SHRINK = [Phase.explicit, Phase.generate]
GENERATE = settings(max_examples=25, phases=NO_SHRINK, **CI)
REFUSE = settings(max_examples=15, phases=NO_SHRINK, **CI)
FUZZ = settings(max_examples=25, **CI)

DAY_FILES = [file_name(schema) for schema in contracts().values()]
SCENARIOS = sorted(p.stem for p in (CONFIG.parent / "scenarios").glob("*.yaml"))
ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
         "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"]
START_DATES = [dt.date(2024, 2, 29), dt.date(2025, 1, 1), dt.date(2025, 3, 30), dt.date(2025, 11, 2)]
DST_DAYS = [dt.date(2025, 3, 9), dt.date(2025, 3, 30), dt.date(2025, 10, 5), dt.date(2025, 10, 26),
            dt.date(2025, 11, 2), dt.date(2026, 3, 8), dt.date(2026, 4, 5), dt.date(2026, 12, 31)]
VITAL_ITEMS = ["heart_rate", "resp_rate", "sbp", "spo2", "temp_c", "consciousness", "pain_score"]
REFUSAL_CODES = {2, 3, 4, 5, 6, 7}


# ---------------------------------------------------------------- strategies

@st.composite
def knobs(draw) -> dict:
    """Documented generator.yaml settings, each within its documented limits."""
    per_day = draw(st.integers(1, 200))
    max_total = draw(st.one_of(st.integers(per_day, per_day * 3), st.integers(per_day, 4000)))
    weights = draw(st.lists(st.sampled_from([0, 0, 0.01, 0.5, 1, 3]), min_size=len(SCENARIOS),
                            max_size=len(SCENARIOS)))
    if not any(weights):
        weights[draw(st.integers(0, len(SCENARIOS) - 1))] = draw(st.floats(0.01, 5))
    unit = st.floats(0, 1, allow_nan=False)
    return {
        "seed": draw(st.integers(0, 2**64 - 1)),
        "timezone": draw(st.sampled_from(ZONES)),
        "start_date": draw(st.sampled_from(START_DATES)),
        "new_patients_per_day": per_day,
        "max_total": max_total,
        "age_mean": draw(st.floats(18, 100)),
        "age_sd": draw(st.floats(0.5, 40)),
        "male_share": draw(unit),
        "frailty_sigma": draw(st.floats(0, 3)),
        "weights": dict(zip(SCENARIOS, weights, strict=True)),
        "volume": draw(st.floats(0.5, 40)),
        "missing": {k: draw(st.floats(0, 0.9)) for k in
                    draw(st.lists(st.sampled_from(VITAL_ITEMS), unique=True, max_size=7))},
    }


def apply(k: dict):
    """An `edit` for copy_config that writes the knobs into generator.yaml."""
    def edit(g: dict) -> None:
        g["seed"] = k["seed"]
        g["hospital"]["timezone"] = k["timezone"]
        reg = g["registry"]
        reg["start_date"] = k["start_date"]
        reg["new_patients_per_day"] = k["new_patients_per_day"]
        reg["max_total"] = k["max_total"]
        reg["age"]["mean"], reg["age"]["sd"] = k["age_mean"], k["age_sd"]
        reg["male_share"] = k["male_share"]
        reg["frailty_sigma"] = k["frailty_sigma"]
        g["scenarios"]["weights"] = k["weights"]
        g["volume"]["raw"] = g["volume"]["sample"] = k["volume"]
        g["charting"]["missing_probability"].update(k["missing"])
    return edit


def days_after(start: dt.date):
    """From the start date to a few years later, with daylight-saving change days favoured."""
    later = st.dates(start, start + dt.timedelta(days=3 * 366))
    return st.one_of(later, st.sampled_from([d for d in DST_DAYS if d >= start] or [start]),
                     st.just(start))


# ---------------------------------------------------------------- running the CLI in-process

def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """`datagen ARGV` in this process: exit code, stdout, stderr (SIGTERM handler restored)."""
    capsys.readouterr()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (lock files aside, which are empty and harmless) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".lock"}


@contextlib.contextmanager
def workspace(k: dict | None):
    """A fresh temporary folder per example (function fixtures are not reset between examples)
    holding a config copy, an out root and a registry folder."""
    with tempfile.TemporaryDirectory(prefix="datagen-prop-") as tmp:
        tmp = Path(tmp)
        config = copy_config(tmp, apply(k) if k else None)
        (tmp / "out").mkdir()
        (tmp / "state").mkdir()
        yield tmp, config


def generate_args(config: Path, tmp: Path, date: dt.date | str, mode: str,
                  encounters: int | None) -> list[str]:
    argv = ["generate", "--date", str(date), "--mode", mode, "--config", str(config),
            "--out-root", str(tmp / "out"), "--quiet"]
    if mode == "raw":
        argv += ["--registry", str(tmp / "state" / "patients_master.csv")]
    if encounters is not None:
        argv += ["--encounters", str(encounters)]
    return argv


def assert_published(tmp: Path, date: dt.date, mode: str, code: int, err: str) -> None:
    folder = tmp / "out" / mode / date.isoformat()
    assert code == 0, f"exit {code}: {err}"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*DAY_FILES, MANIFEST])
    report = validate_day(folder, date)
    assert report.ok, report.summary(10)
    notes = ("datagen: note: the registry is full", "datagen: note: the day holds")
    assert all(line.startswith(notes) for line in err.splitlines()), err


def assert_refused(tmp: Path, date: str, mode: str, before: dict, code: int, err: str,
                   expected: int) -> None:
    assert code in REFUSAL_CODES and code != 4, f"exit {code} (4 = generator broke its contract): {err}"
    assert code == expected, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("datagen: "), err
    mode_dir = tmp / "out" / mode
    leftovers = [p.name for p in mode_dir.iterdir() if p.name != ".locks"] if mode_dir.exists() else []
    assert leftovers == [], f"refused run left {leftovers} (day {date})"
    assert snapshot(tmp / "state") == before, "a refused run changed the registry"


# ---------------------------------------------------------------- 1a: configs within the limits

@GENERATE
@given(k=knobs(), data=st.data(), mode=st.sampled_from(["raw", "sample"]),
       encounters=st.one_of(st.none(), st.integers(0, 40)), earlier_day=st.booleans())
def test_documented_config_publishes_a_valid_day(capsys, k, data, mode, encounters, earlier_day):
    """Any config within the documented limits and any date from start_date on publishes a day
    that passes validation (raw mode also after an earlier raw day grew the registry)."""
    date = data.draw(days_after(k["start_date"]), label="date")
    with workspace(k) as (tmp, config):
        if mode == "raw" and earlier_day and date > k["start_date"]:
            first = data.draw(st.dates(k["start_date"], date - dt.timedelta(days=1)), label="earlier")
            code, _, err = run_cli(capsys, generate_args(config, tmp, first, "raw", 3))
            assert_published(tmp, first, "raw", code, err)
        code, _, err = run_cli(capsys, generate_args(config, tmp, date, mode, encounters))
        assert_published(tmp, date, mode, code, err)
        if mode == "sample":
            assert not any((tmp / "state").iterdir()), "sample mode wrote a registry"


def test_zero_encounter_day(capsys):
    """--encounters 0 (or a Poisson draw of 0) publishes an empty but valid day."""
    date = dt.date(2026, 1, 15)
    with workspace(None) as (tmp, config):
        code, _, err = run_cli(capsys, generate_args(config, tmp, date, "sample", 0))
        assert_published(tmp, date, "sample", code, err)


def _negative_count(g):
    g["registry"]["new_patients_per_day"] = -3


def _zero_weights(g):
    g["scenarios"]["weights"] = dict.fromkeys(g["scenarios"]["weights"], 0)


def _unknown_zone(g):
    g["hospital"]["timezone"] = "Mars/Olympus_Mons"


def _more_per_day_than_total(g):
    g["registry"]["max_total"] = g["registry"]["new_patients_per_day"] - 1


def _negative_missing(g):
    g["charting"]["missing_probability"]["heart_rate"] = -0.1


def _missing_above_limit(g):
    g["charting"]["missing_probability"]["spo2"] = 0.95


INVALID_CONFIGS = [_negative_count, _zero_weights, _unknown_zone, _more_per_day_than_total,
                   _negative_missing, _missing_above_limit]


@st.composite
def refusals(draw) -> tuple:
    """(config edit or None, date text, encounters text, expected exit code): one thing wrong."""
    kind = draw(st.sampled_from(["config", "before_start", "bad_date", "negative_encounters"]))
    start = draw(st.sampled_from(START_DATES))
    date = draw(days_after(start)).isoformat()
    encounters = str(draw(st.integers(0, 10)))
    if kind == "config":
        return draw(st.sampled_from(INVALID_CONFIGS)), start, date, encounters, 3
    if kind == "before_start":
        early = draw(st.dates(start - dt.timedelta(days=400), start - dt.timedelta(days=1)))
        return None, start, early.isoformat(), encounters, 2
    if kind == "bad_date":
        return None, start, draw(st.sampled_from(["2026-02-30", "2025-13-01", "25-1-1", ""])), encounters, 2
    return None, start, date, str(draw(st.integers(-40, -1))), 2


@REFUSE
@given(case=refusals(), k=knobs(), mode=st.sampled_from(["raw", "sample"]), earlier_day=st.booleans())
def test_invalid_input_is_refused_cleanly(capsys, case, k, mode, earlier_day):
    """One thing wrong (config outside its limits, a date before start_date or impossible, a
    negative count): one `datagen: ` line, the documented exit code, no day, registry unchanged."""
    edit, start, date, encounters, expected = case
    k = {**k, "start_date": start}
    with workspace(None) as (tmp, good):
        if mode == "raw" and earlier_day:  # an existing registry the refusal must not touch
            copy = tmp / "good"
            copy.mkdir()
            good = copy_config(copy, apply(k))
            code, _, err = run_cli(capsys, generate_args(good, tmp, start, "raw", 2))
            assert_published(tmp, start, "raw", code, err)
            shutil.rmtree(tmp / "out" / "raw")
        bad = tmp / "bad"
        bad.mkdir()
        config = copy_config(bad, lambda g: [e(g) for e in (apply(k), edit) if e is not None])
        before = snapshot(tmp / "state")
        argv = generate_args(config, tmp, date, mode, None) + ["--encounters", encounters]
        code, _, err = run_cli(capsys, argv)
        assert_refused(tmp, date, mode, before, code, err, expected)


# ---------------------------------------------------------------- 1b: the validator on corrupted bytes

FUZZ_DATE = dt.date(2026, 3, 8)


@pytest.fixture(scope="module")
def valid_day(tmp_path_factory) -> Path:
    """A small valid sample day (8 encounters) on a daylight-saving change date."""
    out = tmp_path_factory.mktemp("fuzz-day")
    return generate_day(load_config(CONFIG), FUZZ_DATE, "sample", out, encounters=8).folder


def _swap_lines(raw: bytes, i: int, j: int) -> bytes:
    lines = raw.split(b"\n")
    i, j = i % len(lines), j % len(lines)
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


@st.composite
def corruptions(draw, raw: bytes) -> bytes:
    """The file's bytes replaced, spliced into, truncated, with two lines swapped, or one byte changed."""
    how = draw(st.sampled_from(["replace", "splice", "truncate", "swap", "flip"]))
    at = draw(st.integers(0, len(raw)))
    if how == "replace":
        return draw(st.binary(max_size=2000))
    if how == "splice":
        return raw[:at] + draw(st.binary(min_size=1, max_size=200)) + raw[at:]
    if how == "truncate":
        return raw[:at]
    if how == "swap":
        return _swap_lines(raw, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)))
    at = min(at, len(raw) - 1)
    return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]


def _clone(folder: Path, tmp: Path) -> Path:
    target = tmp / "sample" / folder.name
    shutil.copytree(folder, target)
    return target


@pytest.mark.parametrize("name", DAY_FILES)
@FUZZ
@given(data=st.data())
def test_validator_never_crashes_and_reports_any_byte_change(valid_day, name, data):
    """Corrupted bytes in any of the five files give a Report, never an exception; any change
    at all is reported (the manifest's sha256 covers every byte)."""
    raw = (valid_day / name).read_bytes()
    new = data.draw(corruptions(raw), label="bytes")
    with tempfile.TemporaryDirectory(prefix="datagen-fuzz-") as tmp:
        folder = _clone(valid_day, Path(tmp))
        (folder / name).write_bytes(new)
        report = validate_day(folder, FUZZ_DATE)
    assert isinstance(report, Report)
    assert all(str(v) for v in report.violations)
    assert report.summary()
    if new == raw:
        assert report.ok, report.summary(10)
    else:
        assert not report.ok
        assert report.counts["manifest"] >= 1, report.summary(10)
        assert any(v.rule == "manifest" and v.file == name for v in report.violations)


def test_validate_command_exits_1_on_corrupted_bytes(valid_day, tmp_path, capsys):
    """`datagen validate` on a day with garbage spliced into a file exits 1 and names the file."""
    folder = _clone(valid_day, tmp_path)
    raw = (folder / "labs.csv").read_bytes()
    (folder / "labs.csv").write_bytes(raw[:500] + b"\x00\xff\xfe\n,,\"" + raw[500:])
    code, out, err = run_cli(capsys, ["validate", "--date", FUZZ_DATE.isoformat(), "--mode", "sample",
                                      "--out-root", str(tmp_path)])
    assert code == 1, err
    assert "labs.csv" in out and "manifest" in out


def test_arbitrary_bytes_in_every_file_at_once(valid_day, tmp_path):
    """All five files replaced by the same junk (including empty files): reported, not raised."""
    for junk in (b"", b"\n", b"\xff" * 64, b'"', b"{}\n[]\n", b"a,b\n1"):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        shutil.copytree(valid_day, folder)
        for name in DAY_FILES:
            (folder / name).write_bytes(junk)
        report = validate_day(folder, FUZZ_DATE)
        assert not report.ok and report.counts["manifest"] >= len(FILES)

