"""The event-time feed: 60 feed days of a small hospital folded back (by README's own DuckDB
code) give exactly the admission-date batches; every row belongs to its day; ADT events,
upserts, culture P/F, corrections and late arrivals happen as configured; a parallel feed
backfill equals a sequential one; bad input and broken rows publish nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from data_generator import feed, feed_rows
from data_generator.config import load_config
from data_generator.contracts import columns, contracts
from data_generator.errors import ConfigError, ContractError
from data_generator.feed import feed_backfill, feed_day, feed_folder, feed_tables
from data_generator.feed_rows import settle_days, window_days
from data_generator.pipeline import build_day
from data_generator.writer import data_file, write_table
from tests.conftest import ROOT, copy_config, datagen, edit_yaml

START, DAYS = dt.date(2026, 1, 1), 60
END = START + dt.timedelta(days=DAYS - 1)
MODE = "sample"
TIMES = {"adt_events": "event_time", "encounters": "updated_at", "patients": "updated_at",
         "vitals": "event_time", "labs": "reported_time", "notes": "note_time"}


def _small(g):
    """A small hospital (a few admissions a day) with every feed mechanism frequent."""
    g["volume"]["sample"] = 3
    g["registry"]["new_patients_per_day"] = 1
    g["feed"]["late"]["share"] = 0.1
    g["feed"]["corrections"]["share"] = 0.05
    for kind in ("demographic_updates", "cancelled_admissions", "cancelled_discharges"):
        g["feed"][kind]["share"] = 0.3


def _short_stays(scenario):
    """Stays of at most 4 days, so that a feed day reaches back 9 days instead of 35."""
    def cap(node):
        if isinstance(node, dict):
            if "los_hours" in node:
                los = node["los_hours"]
                los.update(max=min(los["max"], 96), min=min(los["min"], 48), median=min(los["median"], 60))
            for value in node.values():
                cap(value)
        elif isinstance(node, list):
            for value in node:
                cap(value)
    cap(scenario)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(config path, output root, the admission-date batches the feed was cut from) of a 60-day
    sample-mode feed, written once."""
    base = tmp_path_factory.mktemp("feed")
    config = copy_config(base, _small)
    for scenario in (config.parent / "scenarios").glob("*.yaml"):
        edit_yaml(scenario, _short_stays)
    out = base / "out"
    out.mkdir()
    batches = {}

    def kept(cfg, date, *args, **kw):  # the engine's batches, kept to compare the fold with
        registry, tables = build_day(cfg, date, *args, **kw)
        batches[date] = tables
        return registry, tables

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feed_rows, "build_day", kept)
        patch.setattr(feed, "_batches", type(feed._batches)())  # none kept by another test of this process
        result = feed_backfill(config, START, END, MODE, out, workers=1)
    assert len(result.done) == DAYS
    assert window_days(load_config(config)) == 9
    return config, out, batches


def _rows(folder: Path, name: str) -> list[dict]:
    """A feed file read back with the csv/json modules (not the generator's readers)."""
    if name == "notes":
        with open(folder / "notes.jsonl", encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    with open(folder / f"{name}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _days(out: Path) -> list[Path]:
    return sorted(feed_folder(out, MODE, START).parent.glob("????-??-??"))


def _readme_fold() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Event-time feed\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_folding_the_feed_gives_the_batches(small, monkeypatch):
    """README's DuckDB incremental load over 60 feed days reproduces, row for row and value for
    value, the admission-date batches of every stay admitted in the range and settled before its
    end (and their patients); nothing folded is absent from the batches."""
    config, out, kept = small
    cfg = load_config(config)
    monkeypatch.chdir(out.parent)
    (out.parent / "data").symlink_to(out)
    namespace: dict = {}
    exec(_readme_fold(), namespace)  # README's own code
    fold = namespace["warehouse"]
    batches = out.parent / "batches"
    for date in (START + dt.timedelta(days=k) for k in range(DAYS)):
        tables = kept[date]
        (batches / date.isoformat()).mkdir(parents=True)
        for name, schema in contracts().items():
            write_table(data_file(batches / date.isoformat(), schema), tables[name], schema, cfg.tz)
    for name in ("patients", "encounters", "vitals", "labs"):
        fold.sql(f"CREATE TABLE batch_{name} AS SELECT * FROM read_csv('{batches}/*/{name}.csv', all_varchar = true)")
    fold.sql(f"CREATE TABLE batch_notes AS SELECT * FROM read_json('{batches}/*/notes.jsonl')")
    last = (END - dt.timedelta(days=settle_days(cfg))).isoformat()
    fold.sql(f"""CREATE TABLE settled AS SELECT encounter_id, patient_id FROM batch_encounters
                 WHERE discharge_time::TIMESTAMPTZ < '{last}'::TIMESTAMPTZ""")
    # a patient is compared when none of its stays in the fold is still unsettled
    fold.sql("""CREATE TABLE settled_patients AS SELECT DISTINCT patient_id FROM settled
                WHERE patient_id NOT IN (SELECT patient_id FROM encounters
                                         WHERE encounter_id NOT IN (SELECT encounter_id FROM settled))""")
    n_settled = fold.execute("SELECT count(*) FROM settled").fetchone()[0]
    assert n_settled > 100
    compared = {}
    for name in ("patients", "encounters", "vitals", "labs", "notes"):
        cols = ", ".join(columns(contracts()[name]))
        within = ("patient_id IN (SELECT patient_id FROM settled_patients)" if name == "patients"
                  else "encounter_id IN (SELECT encounter_id FROM settled)")
        ours = f"SELECT {cols} FROM {name} WHERE {within}"
        theirs = f"SELECT DISTINCT {cols} FROM batch_{name} WHERE {within}" if name == "patients" \
            else f"SELECT {cols} FROM batch_{name} WHERE {within}"
        for a, b in ((ours, theirs), (theirs, ours)):
            extra = fold.execute(f"({a}) EXCEPT ALL ({b})").fetchall()
            assert not extra, (name, len(extra), extra[:2])
        compared[name] = fold.execute(f"SELECT count(*) FROM ({ours})").fetchone()[0]
    in_range = f"substr(encounter_id, 5, 8) >= '{START:%Y%m%d}'"
    for name in ("encounters", "vitals", "labs", "notes"):
        key = columns(contracts()[name])[0]
        strays = fold.execute(f"SELECT count(*) FROM {name} WHERE {in_range} "
                          f"AND {key} NOT IN (SELECT {key} FROM batch_{name})").fetchone()[0]
        assert strays == 0, (name, strays)
    assert compared["encounters"] == n_settled
    assert min(compared.values()) > 0


def _all_rows(out: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {name: [] for name in TIMES}
    for folder in _days(out):
        for name in TIMES:
            found[name] += _rows(folder, name)
    return found


def test_every_row_belongs_to_its_feed_day(small):
    """Every row's delivery_date is its folder's date and its time falls on that day, or, for a
    late vitals set, note or lab result, 1-3 days before (about the configured share are late)."""
    config, out, _ = small
    low, high = load_config(config).generator["feed"]["late"]["delay_days"]
    late = {name: [] for name in TIMES}
    for folder in _days(out):
        assert json.loads((folder / "_manifest.json").read_text())["feed"] is True
        day = dt.date.fromisoformat(folder.name)
        for name, col in TIMES.items():
            for row in _rows(folder, name):
                assert row["delivery_date"] == folder.name, (folder.name, name, row)
                lag = (day - dt.date.fromisoformat(row[col][:10])).days  # local date of the local time
                assert lag == 0 or (name in ("vitals", "labs", "notes") and low <= lag <= high), (name, lag, row)
                late[name].append(lag > 0)
    assert not any(late["adt_events"] + late["encounters"] + late["patients"])
    for name in ("vitals", "notes"):
        assert 0.06 < sum(late[name]) / len(late[name]) < 0.14, name  # share 0.1


def test_adt_messages_upserts_statuses_and_corrections(small):
    """A11 and A13 each precede the correct A01/A03; encounter rows are empty of discharge until an
    A03; an A08 carries other address and phone than its stay's A01; a culture is P before its
    last row; a C row follows an F row of the same lab with another value."""
    rows = _all_rows(small[1])
    by_enc: dict[str, list[dict]] = {}
    for r in rows["adt_events"]:
        by_enc.setdefault(r["encounter_id"], []).append(r)
    kinds = {r["event_type"] for r in rows["adt_events"]}
    assert kinds == {"A01", "A02", "A03", "A08", "A11", "A13"}
    for events in by_enc.values():
        ids = [e["event_id"] for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        types = [e["event_type"] for e in events]
        for i, t in enumerate(types):
            follows = {"A11": "A01", "A13": "A03"}.get(t)
            assert follows is None or follows in types[i + 1:], types
    for r in rows["encounters"]:
        assert (r["discharge_time"] != "") == (r["event_type"] == "A03"), r
        assert r["discharge_disposition"] == "" or r["event_type"] == "A03"
    pats = {(r["event_id"][:-3], r["event_type"]): r for r in rows["patients"]}
    updates = [(stay, r) for (stay, kind), r in pats.items() if kind == "A08"]
    assert updates
    for stay, r in updates:
        first = pats.get((stay, "A01"))
        assert first is None or (first["address"], first["phone"]) != (r["address"], r["phone"])
    labs: dict[str, list[dict]] = {}
    for r in sorted(rows["labs"], key=lambda r: r["reported_time"]):
        labs.setdefault(r["lab_id"], []).append(r)
    statuses = {r["result_status"] for r in rows["labs"]}
    assert statuses == {"P", "F", "C"}
    cultures = [v for v in labs.values() if v[0]["test_name"] == "Blood culture"]
    assert cultures and all(v[0]["result_status"] == "P" for v in cultures if len(v) > 1)
    in_range = f"ENC-{START:%Y%m%d}"  # stays admitted before the range had earlier versions before it
    corrected = [v for v in labs.values() if v[-1]["result_status"] == "C" and v[0]["encounter_id"] >= in_range]
    assert corrected
    for versions in corrected:
        assert [v["result_status"] for v in versions] == ["F", "C"]
        assert versions[0]["value"] != versions[1]["value"]


def test_parallel_feed_equals_sequential_and_rerun_skips(small, tmp_path, monkeypatch):
    """Feed days computed alone in two worker processes are byte-identical to the sequential
    backfill's; running the range again skips every day."""
    config, out, _ = small
    monkeypatch.setattr(feed, "_batches", type(feed._batches)())  # workers start with no batch kept
    first = END - dt.timedelta(days=2)
    feed_backfill(config, first, END, MODE, tmp_path, workers=2)
    for k in range(3):
        date = first + dt.timedelta(days=k)
        ours, theirs = feed_folder(tmp_path, MODE, date), feed_folder(out, MODE, date)
        names = sorted(p.name for p in theirs.iterdir())
        assert names == sorted(p.name for p in ours.iterdir())
        for name in names:
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), (date, name)
    again = feed_backfill(config, START, END, MODE, out, workers=1)
    assert again.done == [] and len(again.skipped) == DAYS


def test_a_row_breaking_the_feed_contract_publishes_nothing(small, tmp_path, monkeypatch):
    """A feed day with a row outside its contract is refused with the row named; no folder, no
    staging folder is left."""
    config, out, _ = small
    cfg = load_config(config)
    date = END  # its batches are still kept from the backfill
    good = feed_tables(cfg, date, MODE)

    def broken(*args, **kw):
        adt = {**good["adt_events"], "event_type": good["adt_events"]["event_type"].copy()}
        adt["event_type"][0] = "A99"
        return {**good, "adt_events": adt}

    monkeypatch.setattr(feed, "feed_tables", broken)
    with pytest.raises(ContractError) as err:
        feed_day(cfg, date, MODE, tmp_path)
    assert "adt_events.csv:2 event_type" in str(err.value.line())
    assert not any(p for p in (tmp_path / "feed").rglob("*") if p.is_file() or p.name.startswith(".tmp"))


@pytest.mark.parametrize(("edit", "where"), [
    (lambda g: g["feed"]["late"].update(share=1.5), "feed.late.share"),
    (lambda g: g["feed"]["late"].update(delay_days=[3, 1]), "feed.late.delay_days"),
    (lambda g: g["feed"].update(lateness=0.1), "feed"),
])
def test_bad_feed_settings_are_config_errors(tmp_path, edit, where):
    """A feed rate out of range, a reversed delay or an unknown key is a config error naming it."""
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit))
    assert where in err.value.line()


def test_feed_command_refuses_bad_ranges_in_one_line(tmp_path):
    """`datagen feed` with the end before the start, or without --mode, exits 2 with one line and
    writes nothing."""
    for args in (["--start", "2026-01-15", "--end", "2026-01-14", "--mode", "sample"],
                 ["--start", "2026-01-15", "--end", "2026-01-16"]):
        done = datagen("feed", *args, "--out-root", str(tmp_path))
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("datagen: ")
    assert list(tmp_path.iterdir()) == []


SAMPLE = ROOT / "data" / "feed" / MODE
SAMPLE_DAYS = ("2026-01-15", "2026-01-16", "2026-01-17")


def test_committed_feed_sample_regenerates_byte_for_byte(tmp_path):
    """The last committed feed sample day, derived on its own from the repository's config, is
    byte-identical to the committed folder (README gives the command)."""
    assert sorted(p.name for p in SAMPLE.iterdir() if p.is_dir()) == list(SAMPLE_DAYS)
    date = dt.date.fromisoformat(SAMPLE_DAYS[-1])
    made = feed_day(load_config(ROOT / "config" / "generator.yaml"), date, MODE, tmp_path, encounters=12).folder
    committed = SAMPLE / SAMPLE_DAYS[-1]
    assert sorted(p.name for p in made.iterdir()) == sorted(p.name for p in committed.iterdir())
    for path in committed.iterdir():
        assert (made / path.name).read_bytes() == path.read_bytes(), path.name


def test_validate_and_report_take_a_feed_day(tmp_path, capsys):
    """`datagen validate PATH` checks a feed day against the feed contracts (clean: exit 0; a row
    delivered on another day: exit 1 naming it), and the HTML report's contract section of a feed
    day shows it valid (checked against the feed contracts)."""
    pytest.importorskip("matplotlib")
    from data_generator import cli, report

    day = tmp_path / SAMPLE_DAYS[0]
    shutil.copytree(SAMPLE / SAMPLE_DAYS[0], day)
    assert cli.main(["validate", str(day), "--quiet"]) == 0
    section = report._contract(day, load_config(ROOT / "config" / "generator.yaml"))  # the report's contract section
    assert 'id="contract-status">Contract status: ok' in section
    text = (day / "vitals.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    text[1] = text[1].replace(f",{SAMPLE_DAYS[0]}\n", ",2026-01-14\n")
    (day / "vitals.csv").write_text("".join(text), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate", str(day)]) == 1
    assert "vitals.csv:2 delivery_date: batch_date" in capsys.readouterr().out
