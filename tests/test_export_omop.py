"""`datagen export-omop`: two published days load into the official OMOP CDM 5.4 DDL (DuckDB)
with its NOT NULL columns, primary keys and foreign keys holding, and the tables say what the
day files say, read back separately (measurements per charted value, notes, deaths, ranges)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import duckdb
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from data_generator.cli import main
from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.exporters import research
from data_generator.exporters.omop import SCHEMAS, load_mapping
from tests.conftest import RESEARCH_DAYS, ROOT, copy_config, edit_yaml

DDL = ROOT / "tests" / "data" / "omop_cdm_5.4"
DAYS = RESEARCH_DAYS
RANGE = f"{DAYS[0]}_{DAYS[1]}"
EVENT_DATES = {"visit_occurrence": ["visit_start_date", "visit_end_date"],
               "visit_detail": ["visit_detail_start_date", "visit_detail_end_date"],
               "condition_occurrence": ["condition_start_date"], "measurement": ["measurement_date"],
               "note": ["note_date"], "death": ["death_date"], "drug_exposure": ["drug_exposure_start_date"],
               "procedure_occurrence": ["procedure_date"]}


def _export(out_root, *extra) -> int:
    return main(["export-omop", "--start", DAYS[0].isoformat(), "--end", DAYS[1].isoformat(), "--mode", "sample",
                 "--out-root", str(out_root), "--quiet", *extra])


@pytest.fixture(scope="module")
def days(research_days):
    return research_days


@pytest.fixture(scope="module")
def exported(days):
    assert _export(days) == 0
    return days / "omop" / "sample" / RANGE


@pytest.fixture(scope="module")
def con(exported):
    """The CSV export in the official DDL (loaded once; tests only read it)."""
    return _load(exported, "read_csv")


def _sql(name: str) -> str:
    return (DDL / f"OMOPCDM_duckdb_5.4_{name}.sql").read_text(encoding="utf-8").replace("@cdmDatabaseSchema.", "")


def _load(folder, reader: str) -> duckdb.DuckDBPyConnection:
    """The official DDL in an in-memory DuckDB, the export loaded into it, then its primary keys."""
    con = duckdb.connect()
    con.execute(_sql("ddl"))
    for name in SCHEMAS:
        path = folder / f"{name}.{'csv' if reader == 'read_csv' else 'parquet'}"
        if path.exists():
            options = ", header=true, all_varchar=true" if reader == "read_csv" else ""
            con.execute(f"INSERT INTO {name} SELECT * FROM {reader}('{path}'{options})")
    con.execute(_sql("primary_keys"))   # fails on a duplicate or null key
    return con


def _foreign_keys() -> list[tuple[str, str, str, str]]:
    found = re.findall(r"ALTER TABLE (\w+) ADD CONSTRAINT \w+ FOREIGN KEY \((\w+)\) REFERENCES (\w+) \((\w+)\)",
                       _sql("constraints"))
    return [(t, c, rt.lower(), rc.lower()) for t, c, rt, rc in found if rt.lower() != "concept"]


def _vitals_and_labs(days):
    """The day files read straight with pyarrow (not through the exporter's reader)."""
    read = lambda name: [pacsv.read_csv(days / "sample" / d.isoformat() / name,  # noqa: E731
                                        convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
                         for d in DAYS]
    return read("vitals.csv"), read("labs.csv"), read("encounters.csv")


def test_export_loads_into_the_official_ddl_with_its_keys(con):
    """Every exported table has the DDL's columns in its order, loads (NOT NULL holds), takes the
    primary keys, and every foreign key to a filled table resolves."""
    for name, schema in SCHEMAS.items():
        ddl_cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [name]).fetchall()]
        assert ddl_cols == schema.names, name
    filled = {name for name in SCHEMAS if con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]}
    assert filled == set(SCHEMAS)
    checked = 0
    for table, col, ref, ref_col in _foreign_keys():
        if table in filled and ref in filled:
            orphans = con.execute(f"SELECT count(*) FROM {table} t WHERE t.{col} IS NOT NULL AND NOT EXISTS "
                                  f"(SELECT 1 FROM {ref} r WHERE r.{ref_col} = t.{col})").fetchone()[0]
            assert orphans == 0, (table, col, ref)
            checked += 1
    assert checked >= 15     # person and visit references of every clinical table


def test_every_event_lies_in_its_persons_observation_period(con):
    """Dates of visits, unit stays, conditions, measurements, notes, deaths and treatments fall
    inside the person's observation period."""
    for table, columns in EVENT_DATES.items():
        for col in columns:
            outside = con.execute(
                f"SELECT count(*) FROM {table} t JOIN observation_period o USING (person_id) "
                f"WHERE t.{col} NOT BETWEEN o.observation_period_start_date AND o.observation_period_end_date"
            ).fetchone()[0]
            unmatched = con.execute(f"SELECT count(*) FROM {table} t ANTI JOIN observation_period o "
                                    "USING (person_id)").fetchone()[0]
            assert (outside, unmatched) == (0, 0), (table, col)


def test_tables_hold_what_the_days_hold(con, days, cfg):
    """One measurement per charted vital value and per lab; notes = notes.jsonl lines; deaths =
    expired stays; lab ranges and LOINC source values as in labs.csv."""
    vitals, labs, encounters = _vitals_and_labs(days)
    mapping = load_mapping(cfg)
    charted = sum(len(v) - v[item["column"]].null_count for v in vitals for item in mapping["vitals"])
    lab_rows = sum(len(t) for t in labs)
    count = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert count("SELECT count(*) FROM measurement WHERE measurement_type_concept_id = 32817") == charted
    assert count("SELECT count(*) FROM measurement WHERE measurement_type_concept_id = 32856") == lab_rows
    lines = sum(len((days / "sample" / d.isoformat() / "notes.jsonl").read_text().splitlines()) for d in DAYS)
    assert count("SELECT count(*) FROM note") == lines
    expired = sum(pc.sum(pc.equal(e["discharge_disposition"], "expired")).as_py() or 0 for e in encounters)
    assert count("SELECT count(*) FROM death") == expired
    assert count("SELECT count(*) FROM visit_occurrence") == sum(len(e) for e in encounters)
    # the lactate rows carry labs.csv's reference range and LOINC code
    lactate = [r for t in labs for r in t.to_pylist() if r["loinc_code"] == "2524-7"]
    got = con.execute("SELECT range_low, range_high, value_as_number FROM measurement "
                      "WHERE measurement_source_value = '2524-7' ORDER BY measurement_id").fetchall()
    assert [(float(a), float(b), float(c)) for a, b, c in got] == \
        [(r["ref_low"], r["ref_high"], r["value"]) for r in lactate]
    # FiO2 is exported in % (the file holds a fraction)
    fio2 = sorted(round(x * 100, 6) for v in vitals for x in v["fio2"].drop_null().to_pylist())
    assert sorted(float(r[0]) for r in con.execute(
        "SELECT value_as_number FROM measurement WHERE measurement_source_value = '3150-0'").fetchall()) == fio2


def test_unit_stays_follow_the_transfers(con, days):
    """An encounter with transfers has one visit_detail per unit, chained by preceding_visit_detail_id,
    the last ending at discharge."""
    moves = sum(pacsv.read_csv(days / "sample" / d.isoformat() / "interventions.csv")["kind"].to_pylist()
                .count("transfer") for d in DAYS)
    assert moves > 0
    assert con.execute("SELECT count(*) FROM visit_detail").fetchone()[0] == \
        con.execute("SELECT count(*) FROM visit_occurrence").fetchone()[0] + moves
    bad = con.execute("""SELECT count(*) FROM visit_occurrence v WHERE visit_end_datetime <>
                         (SELECT max(visit_detail_end_datetime) FROM visit_detail d
                          WHERE d.visit_occurrence_id = v.visit_occurrence_id)""").fetchone()[0]
    assert bad == 0


def test_parquet_and_duckdb_formats_hold_the_same_tables(con, days, tmp_path):
    """--format parquet loads into the DDL too; --format duckdb is one database with the same rows."""
    shutil.copytree(days / "sample", tmp_path / "sample")
    assert _export(tmp_path, "--format", "parquet") == 0
    folder = tmp_path / "omop" / "sample" / RANGE
    csv_con, pq_con = con, _load(folder, "read_parquet")
    for name in SCHEMAS:
        query = f"SELECT * FROM {name} ORDER BY ALL"
        assert csv_con.execute(query).fetchall() == pq_con.execute(query).fetchall(), name
    assert _export(tmp_path, "--format", "duckdb") == 0
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "cdm.duckdb"]
    db = duckdb.connect(str(folder / "cdm.duckdb"), read_only=True)
    for name in SCHEMAS:
        assert db.execute(f"SELECT count(*) FROM {name}").fetchone() == \
            csv_con.execute(f"SELECT count(*) FROM {name}").fetchone(), name


def test_same_days_give_the_same_bytes(exported, days):
    """A second export of the same days writes byte-identical files (manifest checksums equal)."""
    before = json.loads((exported / "_manifest.json").read_text())
    assert _export(days) == 0
    assert json.loads((exported / "_manifest.json").read_text()) == before
    assert before["files"]["measurement.csv"]["rows"] == before["tables"]["measurement"]


def test_a_missing_or_damaged_day_is_refused_in_one_line(days, tmp_path, capsys):
    """A day of the range that is absent or breaks its contract stops the export with one line
    naming it and a non-zero exit, and leaves no output behind."""
    shutil.copytree(days / "sample" / DAYS[0].isoformat(), tmp_path / "sample" / DAYS[0].isoformat())
    assert _export(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and DAYS[1].isoformat() in err
    shutil.copytree(days / "sample" / DAYS[1].isoformat(), tmp_path / "sample" / DAYS[1].isoformat())
    labs = tmp_path / "sample" / DAYS[1].isoformat() / "labs.csv"
    labs.write_text(labs.read_text().replace(",2524-7,", ",LACTATE,", 1))
    assert _export(tmp_path) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "labs.csv" in err
    assert not (tmp_path / "omop").exists() or not any((tmp_path / "omop").rglob("*.*"))


def test_a_day_too_large_for_visit_ids_is_refused(days, tmp_path, capsys, monkeypatch):
    """Visit ids are date * 100,000 + the encounter number: a day whose numbers reach that
    (more than 99,999 encounters; here the limit is lowered to 10) is refused, not exported
    with colliding ids."""
    monkeypatch.setattr(research, "VISIT_SEQ", 10)
    assert _export(days) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ENC-20260115-00010" in err


def test_the_mapping_must_cover_every_code_the_config_writes(tmp_path, cfg):
    """A diagnosis code added to a scenario, or a concept citing no source, is a config error
    naming the mapping section."""
    config = copy_config(tmp_path, lambda d: d["diagnoses"].append(
        {"code": "A41.89", "desc": "Other specified sepsis", "weight": 0.01}), file="scenarios/sepsis.yaml")
    with pytest.raises(ConfigError) as err:
        load_mapping(load_config(config))
    assert err.value.where.endswith("omop.yaml: conditions") and "A41.89" in str(err.value.found)
    mapping = tmp_path / "omop.yaml"
    shutil.copy(ROOT / "config" / "reference" / "omop.yaml", mapping)
    edit_yaml(mapping, lambda d: d["labs"]["2160-0"].update(src="athena"))
    with pytest.raises(ConfigError) as err:
        load_mapping(cfg, mapping)
    assert err.value.where.endswith("labs.2160-0.src")
    edit_yaml(mapping, lambda d: d["labs"]["2160-0"].update(src="unmapped"))
    with pytest.raises(ConfigError, match="concept_id 0 goes with src: unmapped"):
        load_mapping(cfg, mapping)


def test_readme_first_lactate_query(exported, days):
    """README's worked query gives, for each sepsis stay with a lactate, its first lactate as
    labs.csv and encounters.csv give it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## OMOP CDM 5.4 export\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    path = f'"data/omop/sample/{RANGE}"'
    assert path in code
    namespace = {}
    exec(code.replace(path, repr(str(exported))), namespace)  # the README's own code
    _, labs, encounters = _vitals_and_labs(days)
    sepsis = {r["encounter_id"]: r for e in encounters for r in e.to_pylist()
              if r["primary_dx_code"].startswith(("A40", "A41"))}
    first = {}
    for row in sorted((r for t in labs for r in t.to_pylist()), key=lambda r: r["event_time"]):
        if row["loinc_code"] == "2524-7" and row["encounter_id"] in sepsis:
            first.setdefault(row["encounter_id"], row)
    expected = sorted((visit_id(e), int(r["patient_id"][1:]), sepsis[e]["primary_dx_code"],
                       r["event_time"].replace(tzinfo=None), r["value"]) for e, r in first.items())
    assert expected
    assert [(a, b, c, d, float(v)) for a, b, c, d, v in namespace["first_lactate"]] == expected


def visit_id(encounter_id: str) -> int:
    """README's id rule, written out independently of the exporter."""
    day = dt.date.fromisoformat(f"{encounter_id[4:8]}-{encounter_id[8:10]}-{encounter_id[10:12]}")
    return (day - dt.date(2000, 1, 1)).days * 100_000 + int(encounter_id[13:])
