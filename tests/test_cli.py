"""The real command line, run as users run it: script path, module, console command, make."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, ROOT, datagen, run


def test_design_document_command_writes_a_day(tmp_path):
    """`python data_generator/generate_daily_batch.py --date D --mode sample` works as designed."""
    r = run(sys.executable, "data_generator/generate_daily_batch.py", "--date", "2026-01-16", "--mode",
            "sample", "--out-root", str(tmp_path), "--encounters", "8", "--config", str(CONFIG))
    assert r.returncode == 0, r.stderr
    day = tmp_path / "sample" / "2026-01-16"
    assert (day / "encounters.csv").exists() and (day / "_manifest.json").exists()
    assert r.stdout.startswith(f"wrote {day}: ") and "8 encounters" in r.stdout


def test_module_and_console_command_agree(tmp_path):
    """`python -m data_generator generate` and `datagen generate` write the same bytes."""
    args = ["generate", "--date", "2026-01-16", "--mode", "sample", "--encounters", "6", "--quiet",
            "--config", str(CONFIG)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = run(sys.executable, "-m", "data_generator", *args, "--out-root", str(tmp_path / "a"))
    assert a.returncode == 0 and a.stdout == "", a.stderr
    datagen = shutil.which("datagen", path=str(Path(sys.executable).parent))
    if datagen is None:
        pytest.skip("console script not installed in this environment (make test installs it)")
    b = run(datagen, *args, "--out-root", str(tmp_path / "b"))
    assert b.returncode == 0, b.stderr
    for f in ("vitals.csv", "notes.jsonl", "_manifest.json"):
        day = "sample/2026-01-16"
        assert (tmp_path / "a" / day / f).read_bytes() == (tmp_path / "b" / day / f).read_bytes()


@pytest.mark.parametrize("date", ["2026-02-30", "2026-13-01", "26-1-1", ""])
def test_bad_dates_are_one_line_errors(tmp_path, date):
    """An impossible or malformed date exits 2 with one line naming --date, writing nothing."""
    r = run(sys.executable, "-m", "data_generator", "generate", "--date", date, "--mode", "sample",
            "--out-root", str(tmp_path), "--config", str(CONFIG))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--date" in lines[0] and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, expected", [
    (["--date", "2999-01-01", "--mode", "sample"], "more than 50 years"),
    (["--date", "2026-01-15", "--mode", "daily"], "invalid choice"),
    (["--date", "2026-01-15"], "--mode"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, expected):
    """Absurd dates, unknown modes and missing options: exit 2, one line, nothing written."""
    r = run(sys.executable, "-m", "data_generator", "generate", *args, "--out-root", str(tmp_path),
            "--config", str(CONFIG))
    assert r.returncode == 2 and expected in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


def test_date_before_registry_start_is_refused(tmp_path):
    """A date before registry.start_date is refused with the start date in the message."""
    r = run(sys.executable, "-m", "data_generator", "generate", "--date", "2020-01-01", "--mode", "raw",
            "--out-root", str(tmp_path), "--config", str(CONFIG), "--registry", str(tmp_path / "reg.csv"))
    assert r.returncode == 2 and "start_date" in r.stderr
    assert not (tmp_path / "reg.csv").exists()


def test_validate_command_reports_clean_and_corrupt_days(tmp_path):
    """`validate` exits 0 on a good day and 1 with file:line on a corrupted one."""
    gen = run(sys.executable, "-m", "data_generator", "generate", "--date", "2026-01-16", "--mode", "sample",
              "--out-root", str(tmp_path), "--encounters", "5", "--config", str(CONFIG))
    assert gen.returncode == 0, gen.stderr
    ok = run(sys.executable, "-m", "data_generator", "validate", "--date", "2026-01-16", "--mode", "sample",
             "--out-root", str(tmp_path))
    assert ok.returncode == 0, ok.stdout
    vitals = tmp_path / "sample/2026-01-16/vitals.csv"
    lines = vitals.read_text().splitlines()
    lines[3] = lines[3].replace("+00:00", "+0000", 1)
    vitals.write_text("\n".join(lines) + "\n")
    bad = run(sys.executable, "-m", "data_generator", "validate", "--date", "2026-01-16", "--mode", "sample",
              "--out-root", str(tmp_path))
    assert bad.returncode == 1
    assert "vitals.csv:4 event_time" in bad.stdout


def test_raw_mode_registry_is_idempotent(tmp_path):
    """Raw mode grows the registry once per date; re-running a date adds nobody."""
    reg = tmp_path / "state" / "patients_master.csv"
    args = [sys.executable, "-m", "data_generator", "generate", "--mode", "raw", "--encounters", "5",
            "--out-root", str(tmp_path), "--config", str(CONFIG), "--registry", str(reg)]
    first = run(*args, "--date", "2025-01-03")
    assert first.returncode == 0, first.stderr
    text = reg.read_text()
    assert "registry +60 patients" in first.stdout  # 3 days x 20 new patients
    again = run(*args, "--date", "2025-01-03")
    assert again.returncode == 0 and "registry +0 patients" in again.stdout
    assert reg.read_text() == text
    nxt = run(*args, "--date", "2025-01-04")
    assert "registry +20 patients" in nxt.stdout
    assert len(reg.read_text().splitlines()) == 81


def test_sample_mode_never_touches_the_registry(tmp_path, cfg):
    """Sample mode derives the registry in memory; naming a registry for it is refused as contradictory."""
    from data_generator.pipeline import generate_day

    reg = tmp_path / "patients_master.csv"
    generate_day(cfg, dt.date(2025, 1, 3), "sample", tmp_path, encounters=5, registry_path=reg)
    assert not reg.exists()
    r = run(sys.executable, "-m", "data_generator", "generate", "--mode", "sample", "--date", "2025-01-03",
            "--out-root", str(tmp_path), "--config", str(CONFIG), "--registry", str(reg))
    assert r.returncode == 2 and "--registry" in r.stderr and "contradicts" in r.stderr
    assert not reg.exists()


def test_edited_registry_is_refused_not_rewritten(tmp_path):
    """A registry row that was edited is named in the error and the file stays as it was."""
    reg = tmp_path / "patients_master.csv"
    args = [sys.executable, "-m", "data_generator", "generate", "--mode", "raw", "--encounters", "5",
            "--out-root", str(tmp_path), "--config", str(CONFIG), "--registry", str(reg)]
    assert run(*args, "--date", "2025-01-02").returncode == 0
    lines = reg.read_text().splitlines()
    fields = lines[5].split(",")
    fields[2] = "Zzyzx"
    lines[5] = ",".join(fields)
    reg.write_text("\n".join(lines) + "\n")
    edited = reg.read_bytes()
    r = run(*args, "--date", "2025-01-03")
    assert r.returncode == 5
    assert f"{reg}:6 first_name" in r.stderr and "Zzyzx" in r.stderr
    assert reg.read_bytes() == edited
    assert not (tmp_path / "raw" / "2025-01-03").exists()


def test_make_without_date_is_a_clear_error():
    """`make sample` with no DATE stops with a message, not a traceback."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    r = run("make", "-s", "sample", "DATE=")
    assert r.returncode != 0
    assert "DATE is required" in r.stderr


def test_the_wrapper_runs_the_command_line_from_the_project_venv():
    """`./datagen` at the top of the repository runs the installed command line (no activation needed)."""
    done = run(str(ROOT / "datagen"), "generate", "--help")
    assert done.returncode == 0 and "--date" in done.stdout


@pytest.mark.parametrize("argv", [["preview", "--scenario", "sepsis", "--n", "0"],
                                  ["backfill", "--start", "2026-01-01", "--end", "2026-01-02", "--workers", "0"]])
def test_a_count_that_must_be_positive_says_so_once(argv):
    """--n 0 and --workers 0 are usage errors (exit 2) saying they must be 1 or more, nothing else."""
    done = datagen(*argv)
    assert done.returncode == 2
    assert "must be 1 or more, got 0" in done.stderr and "0 or more" not in done.stderr


def test_backfill_logs_one_plain_line_per_day_when_not_on_a_terminal(tmp_path):
    """With stderr redirected (a log file, CI), progress is one line per finished day, no carriage returns."""
    done = datagen("backfill", "--start", "2026-01-14", "--end", "2026-01-15", "--mode", "sample", "--out-root",
                   str(tmp_path), "--workers", "1", "--encounters", "5")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert [line.split()[0] for line in done.stderr.splitlines() if " done (" in line] == ["2026-01-14", "2026-01-15"]


def test_dask_without_a_scheduler_fails_before_any_progress():
    """--executor dask without --scheduler is a one-line usage error; no progress bar is drawn first."""
    done = datagen("backfill", "--start", "2026-01-14", "--end", "2026-01-15", "--executor", "dask")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--scheduler" in done.stderr and "day" not in done.stderr


def test_a_refused_run_leaves_no_lock_files(tmp_path):
    """A run refused for an unreadable registry exits 5 and leaves no lock file or folder behind."""
    (tmp_path / "out").mkdir()
    registry = tmp_path / "empty.csv"
    registry.touch()
    done = datagen("generate", "--date", "2026-01-15", "--mode", "raw", "--registry", str(registry),
                   "--out-root", str(tmp_path / "out"), "--config", str(CONFIG))
    assert done.returncode == 5, done.stderr
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".lock") or p.name == ".locks"]
    assert not list((tmp_path / "out").iterdir())  # not even an empty raw/ folder


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from data_generator.cli import _parser

    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"datagen": parser, **sub.choices}


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_option_has_help_and_states_its_default(command):
    """`datagen CMD --help` explains every option and argument, and says what an option defaults to."""
    for action in _subcommands()[command]._actions:
        assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)
        default = action.default
        if action.option_strings and not action.required and default not in (None, False, argparse.SUPPRESS):
            assert "default" in action.help, (command, action.option_strings, action.help)


# ---------------------------------------------------------------- validate PATH

@pytest.fixture(scope="module")
def written_day(tmp_path_factory) -> Path:
    """A small published sample day (2026-01-16), written once for the validate PATH tests."""
    out = tmp_path_factory.mktemp("written")
    gen = run(sys.executable, "-m", "data_generator", "generate", "--date", "2026-01-16", "--mode", "sample",
              "--out-root", str(out), "--encounters", "5", "--config", str(CONFIG))
    assert gen.returncode == 0, gen.stderr
    return out / "sample" / "2026-01-16"


def _copy(day: Path, where: Path) -> Path:
    shutil.copytree(day, where)
    return where


def validate(*args):
    return run(sys.executable, "-m", "data_generator", "validate", *map(str, args))


def test_validate_a_folder_anywhere_takes_the_manifest_batch_date(written_day, tmp_path):
    """A copy under any name is checked as it is, against the batch date its manifest records."""
    copy = _copy(written_day, tmp_path / "handed over")
    ok = validate(copy)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"{copy}:") and "ok: every row meets its contract" in ok.stdout
    other = validate(copy, "--date", "2026-01-17")  # --date overrides: admissions and manifest disagree
    assert other.returncode == 1
    assert "_manifest.json batch_date: manifest" in other.stdout and "admit_time: batch_date" in other.stdout


def test_validate_a_folder_without_manifest_takes_the_date_from_its_name(written_day, tmp_path):
    """No manifest: the folder name gives the batch date; a name that is no date needs --date."""
    named = _copy(written_day, tmp_path / "2026-01-17")
    (named / "_manifest.json").unlink()
    wrong = validate(named)  # admitted on the 16th, named the 17th: the name was read
    assert wrong.returncode == 1 and "admit_time: batch_date" in wrong.stdout
    plain = named.rename(tmp_path / "plain")
    refused = validate(plain)
    assert refused.returncode == 2 and "no batch date" in refused.stderr and "--date" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.stdout == ""
    given = validate(plain, "--date", "2026-01-16")
    assert given.returncode == 0, given.stdout


@pytest.mark.parametrize("make, expected", [
    (lambda root: root / "missing", "no such folder"),
    (lambda root: root / "sample" / "2026-01-16" / "vitals.csv", "not a folder"),
    (lambda root: root / "empty", "not a day folder"),
    (lambda root: root / "sample", "it holds day folders: give one, e.g. "),
])
def test_validate_a_path_that_is_not_a_day_folder_is_one_line(written_day, tmp_path, make, expected):
    """A missing path, a file, an empty folder or a folder of days: exit 2, one line saying which."""
    _copy(written_day, tmp_path / "sample" / "2026-01-16")
    (tmp_path / "empty").mkdir()
    r = validate(make(tmp_path))
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args, expected", [
    ([], "needs a day folder PATH"),
    (["--date", "2026-01-16"], "--mode: is required"),
    (["PATH", "--mode", "sample"], "--mode: only applies without PATH"),
    (["PATH", "--out-root", "data"], "--out-root: only applies without PATH"),
])
def test_validate_options_that_do_not_fit_are_one_line(written_day, args, expected):
    """Neither PATH nor --date, --date without --mode, or PATH with --mode/--out-root: exit 2, one line."""
    r = validate(*[written_day if a == "PATH" else a for a in args])
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_make_validate_takes_a_folder(written_day):
    """`make validate DIR=...` checks a day folder wherever it is."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    r = run("make", "-s", "validate", f"DIR={written_day}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: every row meets its contract" in r.stdout


def test_an_absurd_encounter_count_stops_at_the_free_patients(tmp_path):
    """--encounters 100000000 (a typo) makes the day the registry can hold, at once, and says so;
    nothing is sized by the number asked for."""
    done = datagen("generate", "--date", "2025-01-03", "--mode", "sample", "--encounters", "100000000",
                   "--out-root", str(tmp_path), "--config", str(CONFIG))
    assert done.returncode == 0, done.stderr
    assert "not 100000000" in done.stderr
    rows = (tmp_path / "sample" / "2025-01-03" / "encounters.csv").read_text().count("\n") - 1
    assert 0 < rows <= 60  # three days of 20 registrations


def test_generate_never_imports_pandas_and_writes_what_a_library_call_writes(tmp_path, cfg):
    """The generating commands hide pandas from pyarrow (it is installed here, with the test
    extras); their days are the bytes `generate_day` writes in a process that has pandas."""
    import pandas  # noqa: F401 (this process has it, as a notebook would)

    from data_generator.pipeline import generate_day

    (tmp_path / "cli").mkdir()
    (tmp_path / "lib").mkdir()
    code = ("import sys\nfrom data_generator.cli import main\n"
            "rc = main(['generate', '--date', '2026-01-16', '--mode', 'sample', '--encounters', '30',"
            f" '--workers', '2', '--quiet', '--interventions', '--config', {str(CONFIG)!r},"
            f" '--out-root', {str(tmp_path / 'cli')!r}])\n"
            "print(rc, 'pandas' in sys.modules)")
    r = run(sys.executable, "-c", code)
    assert r.stdout.split() == ["0", "False"], r.stderr
    generate_day(cfg, dt.date(2026, 1, 16), "sample", tmp_path / "lib", encounters=30, workers=2, interventions=True)
    cli, lib = tmp_path / "cli/sample/2026-01-16", tmp_path / "lib/sample/2026-01-16"
    names = sorted(p.name for p in lib.iterdir() if p.name != "_manifest.json")
    assert names == sorted(p.name for p in cli.iterdir() if p.name != "_manifest.json")
    for name in names:
        assert (cli / name).read_bytes() == (lib / name).read_bytes(), name


def test_pyarrow_still_converts_pandas_objects_once_a_call_needs_pandas():
    """After `arrow_without_pandas`, a call that needs pandas imports it, and pandas objects
    convert as pyarrow converts them anywhere (missing floats as nulls, categories as
    dictionaries)."""
    code = ("import sys\nimport pyarrow as pa\nfrom data_generator.writer import arrow_without_pandas\n"
            "arrow_without_pandas()\nbefore = 'pandas' in sys.modules\n"
            "frame = pa.table({'x': [1.0, None]}).to_pandas()\nimport pandas as pd\n"
            "series = pa.array(pd.Series([1.0, None]))\ncats = pa.array(pd.Series(['a', 'b'], dtype='category'))\n"
            "print(before, frame['x'].isna().sum(), series.null_count, pa.types.is_dictionary(cats.type))")
    r = run(sys.executable, "-c", code)
    assert r.stdout.split() == ["False", "1", "1", "True"], r.stderr
