"""FHIR R4 export: every resource parses with an independent FHIR model library, references
resolve, counts match the day's rows, codes, units and values match the CSVs, bytes are stable.

The models are fhir.resources' R4B package (fhir.resources 8 ships R5, R4B and STU3, not R4;
Patient, Encounter, Observation and DocumentReference have the same structure in R4 and R4B).
fhir.resources does not check code-system bindings, so required codes are asserted here.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from data_generator.errors import ConfigError, ContractError, OutputError
from data_generator.exporters import fhir
from data_generator.exporters.fhir import export_day, load_mapping
from data_generator.pipeline import generate_day

fhir_r4b = pytest.importorskip("fhir.resources.R4B", reason="needs the test extra: fhir.resources>=8,<9")

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "config" / "reference" / "fhir.yaml"
DAY = dt.date(2026, 1, 15)
LOINC, UCUM, SNOMED = "http://loinc.org", "http://unitsofmeasure.org", "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# Written out here, not read from fhir.yaml, so a wrong mapping fails: id suffix -> (column, LOINC, UCUM).
QUANTITY_VITALS = {"hr": ("heart_rate", "8867-4", "/min"), "rr": ("resp_rate", "9279-1", "/min"),
                   "map": ("map", "8478-0", "mm[Hg]"), "spo2": ("spo2", "59408-5", "%"),
                   "temp": ("temp_c", "8310-5", "Cel"), "pain": ("pain_score", "72514-3", "{score}"),
                   "fio2": ("fio2", "3150-0", "%")}
ACVPU = {"A": "248234008", "C": "130987000", "V": "300202002", "P": "450847001", "U": "422768004"}
CLASS = {"ED": "EMER", "observation": "OBSENC", "inpatient": "IMP", "ICU": "IMP"}
NOTE_LOINC = {"admission_hp": "34117-2", "progress": "11506-3", "nursing": "34746-8", "procedure": "28570-0",
              "operative": "11504-8", "discharge_summary": "18842-5"}


@pytest.fixture(scope="module")
def day(cfg, tmp_path_factory) -> Path:
    return generate_day(cfg, DAY, "sample", tmp_path_factory.mktemp("day"), encounters=25).folder


@pytest.fixture(scope="module")
def exported(day, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "2026-01-15.fhir"
    return out, export_day(day, out, MAPPING)


@pytest.fixture(scope="module")
def resources(exported) -> dict[str, list[dict]]:
    out, _ = exported
    return {kind: [json.loads(line, parse_float=Decimal) for line in (out / f"{kind}.ndjson").open(encoding="utf-8")]
            for kind in fhir.RESOURCE_TYPES}


def rows(day: Path, name: str) -> list[dict]:
    if name == "notes":
        return [json.loads(line) for line in (day / "notes.jsonl").open(encoding="utf-8")]
    with open(day / f"{name}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def by_id(items: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in items}


def codes(concept: dict, system: str) -> list[str]:
    return [c["code"] for c in concept["coding"] if c["system"] == system]


def test_every_resource_validates_with_the_fhir_models(exported):
    """Each NDJSON line parses with the fhir.resources R4B model of its resourceType."""
    out, counts = exported
    for kind in fhir.RESOURCE_TYPES:
        model = fhir_r4b.get_fhir_model_class(kind)
        lines = (out / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        assert len(lines) == counts[kind] > 0
        for line in lines:
            assert json.loads(line)["resourceType"] == kind
            model.model_validate_json(line)


def test_ids_are_unique_and_references_resolve(resources):
    """Every reference is Type/id of a resource in the export; ids are unique per type."""
    known = set()
    for kind, items in resources.items():
        ids = [r["id"] for r in items]
        assert len(ids) == len(set(ids)), kind
        known |= {f"{kind}/{i}" for i in ids}

    def refs(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node["reference"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = [ref for items in resources.values() for r in items for ref in refs(r)]
    assert found and set(found) <= known
    assert all(r["subject"]["reference"].startswith("Patient/") for r in resources["Observation"])
    assert all(r["encounter"]["reference"].startswith("Encounter/") for r in resources["Observation"])


def test_counts_match_the_day(day, exported, resources):
    """One Patient/Encounter per row, one Observation per charted vital item and per lab, one document per note."""
    out, counts = exported
    vitals = rows(day, "vitals")
    items = [c for c, _, _ in QUANTITY_VITALS.values()] + ["consciousness"]
    charted = sum(1 for r in vitals for c in items if r[c] != "") + sum(1 for r in vitals if r["sbp"] or r["dbp"])
    expected = {"Patient": len(rows(day, "patients")), "Encounter": len(rows(day, "encounters")),
                "Observation": charted + len(rows(day, "labs")), "DocumentReference": len(rows(day, "notes"))}
    assert counts == expected
    assert {k: len(v) for k, v in resources.items()} == expected
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["output"] == [{"type": k, "url": f"{k}.ndjson", "count": n} for k, n in expected.items()]
    assert manifest["transactionTime"].startswith(DAY.isoformat())


def test_vital_observations_carry_the_charted_values(day, resources):
    """Every charted vital: LOINC code, UCUM unit, category and the CSV value (FiO2 as %)."""
    obs = by_id(resources["Observation"])
    for row in rows(day, "vitals"):
        for suffix, (column, loinc, unit) in QUANTITY_VITALS.items():
            ident = f"{row['vital_id']}-{suffix}"
            if row[column] == "":
                assert ident not in obs
                continue
            o = obs[ident]
            assert loinc in codes(o["code"], LOINC)
            assert codes(o["category"][0], CATEGORY) == ["vital-signs"]
            scale = 100 if column == "fio2" else 1
            assert o["valueQuantity"]["value"] == Decimal(row[column]) * scale
            assert (o["valueQuantity"]["system"], o["valueQuantity"]["code"]) == (UCUM, unit)
            assert o["effectiveDateTime"] == row["event_time"] and o["status"] == "final"
            assert o["subject"]["reference"] == f"Patient/{row['patient_id']}"
            assert o["encounter"]["reference"] == f"Encounter/{row['encounter_id']}"
        bp = obs.get(f"{row['vital_id']}-bp")
        assert (bp is None) == (row["sbp"] == row["dbp"] == "")
        if bp is not None:
            assert codes(bp["code"], LOINC) == ["85354-9"]
            parts = {codes(c["code"], LOINC)[0]: c["valueQuantity"] for c in bp["component"]}
            assert parts["8480-6"]["value"] == Decimal(row["sbp"]) and parts["8462-4"]["value"] == Decimal(row["dbp"])
            assert {p["code"] for p in parts.values()} == {"mm[Hg]"}
        acvpu = obs.get(f"{row['vital_id']}-acvpu")
        assert (acvpu is None) == (row["consciousness"] == "")
        if acvpu is not None:
            assert codes(acvpu["valueCodeableConcept"], SNOMED) == [ACVPU[row["consciousness"]]]
    spo2 = next(o for o in obs.values() if o["id"].endswith("-spo2"))
    assert "2708-6" in codes(spo2["code"], LOINC)   # the R4 oxygen-saturation profile's code


def test_lab_observations_match_labs_csv(day, resources):
    """Every lab: LOINC, laboratory category, value and UCUM unit or text, range, flag, times."""
    obs = by_id(resources["Observation"])
    labs = rows(day, "labs")
    assert any(r["value"] == "" for r in labs) and any(r["unit"] == "" and r["value"] for r in labs)
    for row in labs:
        o = obs[row["lab_id"]]
        assert codes(o["code"], LOINC) == [row["loinc_code"]] and o["code"]["text"] == row["test_name"]
        assert codes(o["category"][0], CATEGORY) == ["laboratory"]
        assert (o["effectiveDateTime"], o["issued"]) == (row["event_time"], row["result_time"])
        interp = o["interpretation"][0]["coding"][0]
        assert interp == {**interp, "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                          "code": row["flag"]}
        unit = {"unit": row["unit"], "system": UCUM, "code": row["unit"]} if row["unit"] else {}
        if row["value"]:
            assert o["valueQuantity"] == {"value": Decimal(row["value"]), **unit}
        else:
            assert "valueQuantity" not in o and o["valueCodeableConcept"] == {"text": row["value_text"]}
        bounds = {k: {"value": Decimal(row[f"ref_{k}"]), **unit} for k in ("low", "high") if row[f"ref_{k}"]}
        assert o.get("referenceRange") == ([bounds] if bounds else None)


def test_patients_encounters_and_documents(day, resources):
    """Demographics, encounter class, ICD-10-CM reason, disposition, note LOINC type and text."""
    patients = by_id(resources["Patient"])
    for row in rows(day, "patients"):
        p = patients[row["patient_id"]]
        assert p["identifier"][0]["value"] == row["mrn"] and p["identifier"][0]["type"]["coding"][0]["code"] == "MR"
        assert p["name"][0] == {"use": "official", "family": row["last_name"], "given": [row["first_name"]]}
        assert p["gender"] == {"F": "female", "M": "male"}[row["sex"]] and p["birthDate"] == row["date_of_birth"]
        assert p["address"][0]["postalCode"] == row["zip"] and p["telecom"][0]["value"] == row["phone"]
    encounters = by_id(resources["Encounter"])
    for row in rows(day, "encounters"):
        e = encounters[row["encounter_id"]]
        assert e["status"] == "finished"
        assert e["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
        assert e["class"]["code"] == CLASS[row["encounter_type"]]
        assert codes(e["reasonCode"][0], "http://hl7.org/fhir/sid/icd-10-cm") == [row["primary_dx_code"]]
        assert e["period"] == {"start": row["admit_time"], "end": row["discharge_time"]}
        assert e["location"][0]["location"]["display"] == row["care_unit"]
        disposition = codes(e["hospitalization"]["dischargeDisposition"],
                            "http://terminology.hl7.org/CodeSystem/discharge-disposition")
        assert len(disposition) == 1
        assert (row["discharge_disposition"] == "expired") == (disposition == ["exp"])
    documents = by_id(resources["DocumentReference"])
    for note in rows(day, "notes"):
        d = documents[note["note_id"]]
        assert d["status"] == "current" and codes(d["type"], LOINC) == [NOTE_LOINC[note["note_type"]]]
        attachment = d["content"][0]["attachment"]
        assert attachment["contentType"].startswith("text/plain")
        assert base64.b64decode(attachment["data"]).decode("utf-8") == note["text"]
        assert d["context"]["encounter"] == [{"reference": f"Encounter/{note['encounter_id']}"}]
        assert d["date"] == note["note_time"] and d["author"] == [{"display": note["author"]}]


def test_reexport_is_byte_identical_and_blocks_do_not_matter(day, exported, tmp_path, monkeypatch):
    """Exporting again, even in tiny read blocks, writes exactly the same bytes."""
    out, _ = exported
    monkeypatch.setattr(fhir, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(fhir, "NOTES_PER_BLOCK", 7)
    again = tmp_path / "again"
    export_day(day, again, MAPPING)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir()) == sorted(
        [f"{k}.ndjson" for k in fhir.RESOURCE_TYPES] + ["export.json"])
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def _copy_day(day: Path, tmp_path: Path, name: str, edit) -> Path:
    """A copy of the day whose `name` CSV has `edit(rows)` applied."""
    copy = tmp_path / day.name
    shutil.copytree(day, copy)
    table = rows(copy, name)
    edit(table)
    with open(copy / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return copy


def test_partly_charted_rows(day, tmp_path):
    """A row with only DBP gives a one-component panel; a row with nothing charted gives nothing."""
    def edit(table):
        table[0]["sbp"] = ""
        for col in ("heart_rate", "resp_rate", "sbp", "dbp", "map", "spo2", "temp_c", "consciousness", "fio2",
                    "pain_score"):
            table[1][col] = ""
    copy = _copy_day(day, tmp_path, "vitals", edit)
    export_day(copy, tmp_path / "out", MAPPING)
    first, second = (r["vital_id"] for r in rows(copy, "vitals")[:2])
    model = fhir_r4b.get_fhir_model_class("Observation")
    lines = (tmp_path / "out" / "Observation.ndjson").read_text().splitlines()
    bp = json.loads(next(line for line in lines if f'"id":"{first}-bp"' in line))
    model.model_validate(bp)
    assert [codes(c["code"], LOINC) for c in bp["component"]] == [["8462-4"]]
    assert not any(f'"id":"{second}-' in line for line in lines)


@pytest.mark.parametrize(("name", "column", "value", "where"), [
    ("vitals", "heart_rate", '91,"x":1', "vitals.csv row 3 heart_rate"),
    ("labs", "flag", "Q", "labs.csv row 3 flag"),
    ("labs", "lab_id", "LAB 1", "labs.csv row 3 lab_id"),
    ("encounters", "admit_time", "yesterday", "encounters.csv row 3 admit_time"),
])
def test_values_that_cannot_be_exported_are_refused(day, tmp_path, name, column, value, where):
    """A tampered cell is a ContractError naming file, row and column, never broken JSON."""
    def edit(table):
        table[2][column] = value
    with pytest.raises(ContractError) as err:
        export_day(_copy_day(day, tmp_path, name, edit), tmp_path / "out", MAPPING)
    assert err.value.where == where


def test_export_inside_the_day_folder_is_refused(day):
    """A day folder holds only its contracted files and manifest."""
    with pytest.raises(OutputError):
        export_day(day, day / "fhir", MAPPING)


def _edited_mapping(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(MAPPING.read_text())
    edit(data)
    path = tmp_path / "fhir.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_shipped_mapping_loads():
    """config/reference/fhir.yaml passes its schema and covers every contract value."""
    assert load_mapping(MAPPING)["fhir_version"] == "4.0.1"


@pytest.mark.parametrize(("edit", "where"), [
    (lambda d: d["document"]["type"].pop("operative"), "document.type"),
    (lambda d: d["encounter"]["class"].pop("ICU"), "encounter.class"),
    (lambda d: d["observation"]["interpretation"].pop("HH"), "observation.interpretation"),
    (lambda d: d["observation"]["vitals_not_exported"].clear(), "observation.vitals"),
    (lambda d: d["observation"]["vitals"][0].update(colour="red"), "observation.vitals.0"),
    (lambda d: d["observation"]["vitals"][1].update(column="o2_device"), "observation.vitals.1.column"),
    (lambda d: d["observation"]["vitals"][0].update(category="vitals"), "observation.vitals.0.category"),
    (lambda d: d.update(extra=1), "(top level)"),
])
def test_a_mapping_that_misses_or_misnames_is_refused(tmp_path, edit, where):
    """Every contract enum and vitals column needs a mapping; unknown keys are errors."""
    path = _edited_mapping(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert err.value.where == f"{path}: {where}"


def test_a_missing_day_file_is_named(day, tmp_path):
    """A folder without vitals.csv (e.g. a Parquet day) is refused, naming the file."""
    copy = tmp_path / day.name
    shutil.copytree(day, copy)
    (copy / "vitals.csv").rename(copy / "vitals.parquet")
    with pytest.raises(ContractError) as err:
        export_day(copy, tmp_path / "out", MAPPING)
    assert err.value.where == str(copy / "vitals.csv")
