"""OMOP CDM 5.4 export of the published days of a date range.

    export_omop(days, out_dir, mapping, cfg, fmt="csv") -> {"person": n, "measurement": n, ...}

patients.csv -> person (+ observation_period), encounters.csv -> visit_occurrence,
condition_occurrence (the primary diagnosis), death (expired stays); unit stays -> visit_detail
(from interventions.csv transfers when the day has them); vitals.csv and labs.csv ->
measurement (one row per charted value); notes.jsonl -> note; interventions.csv ->
drug_exposure and procedure_occurrence; one cdm_source row. Every concept ID comes from
`config/reference/omop.yaml`; this module only places them.

Ids: person_id and visit_occurrence_id follow exporters/research.py (stable across exports);
condition_occurrence_id is the visit's id (one primary diagnosis per stay), observation_period_id
the person's; the other tables number their rows 1, 2, ... in export order (day, file row, then
the mapping's vitals order). Times are the hospital's wall clock. Same days, same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data_generator import __version__
from data_generator.config import Config, load_checked
from data_generator.contracts import load_contract
from data_generator.errors import ConfigError, ContractError, OutputError, UsageError
from data_generator.exporters.mapping import VITAL_KEYS, check_vital_columns
from data_generator.exporters.research import (
    INT32_MAX,
    day_of,
    local,
    person_ids,
    publish_export,
    range_tables,
    visit_ids,
)
from data_generator.reading import day_tables, read_table

DEFAULT_MAPPING = Path("config/reference/omop.yaml")
FORMATS = ("csv", "parquet", "duckdb")
SOURCE_VALUE_CHARS = 50          # varchar(50) of the *_source_value columns

_TYPES = {"i": pa.int32(), "n": pa.float64(), "d": pa.date32(), "t": pa.timestamp("s"), "s": pa.string()}
# The CDM 5.4 tables written, every column in the official DDL's order (i integer, n NUMERIC,
# d date, t TIMESTAMP, s varchar/TEXT); tests check these against the OHDSI DDL itself.
TABLES = {
    "person": "person_id:i gender_concept_id:i year_of_birth:i month_of_birth:i day_of_birth:i birth_datetime:t "
              "race_concept_id:i ethnicity_concept_id:i location_id:i provider_id:i care_site_id:i "
              "person_source_value:s gender_source_value:s gender_source_concept_id:i race_source_value:s "
              "race_source_concept_id:i ethnicity_source_value:s ethnicity_source_concept_id:i",
    "observation_period": "observation_period_id:i person_id:i observation_period_start_date:d "
                          "observation_period_end_date:d period_type_concept_id:i",
    "visit_occurrence": "visit_occurrence_id:i person_id:i visit_concept_id:i visit_start_date:d "
                        "visit_start_datetime:t visit_end_date:d visit_end_datetime:t visit_type_concept_id:i "
                        "provider_id:i care_site_id:i visit_source_value:s visit_source_concept_id:i "
                        "admitted_from_concept_id:i admitted_from_source_value:s discharged_to_concept_id:i "
                        "discharged_to_source_value:s preceding_visit_occurrence_id:i",
    "visit_detail": "visit_detail_id:i person_id:i visit_detail_concept_id:i visit_detail_start_date:d "
                    "visit_detail_start_datetime:t visit_detail_end_date:d visit_detail_end_datetime:t "
                    "visit_detail_type_concept_id:i provider_id:i care_site_id:i visit_detail_source_value:s "
                    "visit_detail_source_concept_id:i admitted_from_concept_id:i admitted_from_source_value:s "
                    "discharged_to_source_value:s discharged_to_concept_id:i preceding_visit_detail_id:i "
                    "parent_visit_detail_id:i visit_occurrence_id:i",
    "condition_occurrence": "condition_occurrence_id:i person_id:i condition_concept_id:i condition_start_date:d "
                            "condition_start_datetime:t condition_end_date:d condition_end_datetime:t "
                            "condition_type_concept_id:i condition_status_concept_id:i stop_reason:s provider_id:i "
                            "visit_occurrence_id:i visit_detail_id:i condition_source_value:s "
                            "condition_source_concept_id:i condition_status_source_value:s",
    "drug_exposure": "drug_exposure_id:i person_id:i drug_concept_id:i drug_exposure_start_date:d "
                     "drug_exposure_start_datetime:t drug_exposure_end_date:d drug_exposure_end_datetime:t "
                     "verbatim_end_date:d drug_type_concept_id:i stop_reason:s refills:i quantity:n days_supply:i "
                     "sig:s route_concept_id:i lot_number:s provider_id:i visit_occurrence_id:i visit_detail_id:i "
                     "drug_source_value:s drug_source_concept_id:i route_source_value:s dose_unit_source_value:s",
    "procedure_occurrence": "procedure_occurrence_id:i person_id:i procedure_concept_id:i procedure_date:d "
                            "procedure_datetime:t procedure_end_date:d procedure_end_datetime:t "
                            "procedure_type_concept_id:i modifier_concept_id:i quantity:i provider_id:i "
                            "visit_occurrence_id:i visit_detail_id:i procedure_source_value:s "
                            "procedure_source_concept_id:i modifier_source_value:s",
    "measurement": "measurement_id:i person_id:i measurement_concept_id:i measurement_date:d measurement_datetime:t "
                   "measurement_time:s measurement_type_concept_id:i operator_concept_id:i value_as_number:n "
                   "value_as_concept_id:i unit_concept_id:i range_low:n range_high:n provider_id:i "
                   "visit_occurrence_id:i visit_detail_id:i measurement_source_value:s "
                   "measurement_source_concept_id:i unit_source_value:s unit_source_concept_id:i "
                   "value_source_value:s measurement_event_id:i meas_event_field_concept_id:i",
    "death": "person_id:i death_date:d death_datetime:t death_type_concept_id:i cause_concept_id:i "
             "cause_source_value:s cause_source_concept_id:i",
    "note": "note_id:i person_id:i note_date:d note_datetime:t note_type_concept_id:i note_class_concept_id:i "
            "note_title:s note_text:s encoding_concept_id:i language_concept_id:i provider_id:i "
            "visit_occurrence_id:i visit_detail_id:i note_source_value:s note_event_id:i "
            "note_event_field_concept_id:i",
    "cdm_source": "cdm_source_name:s cdm_source_abbreviation:s cdm_holder:s source_description:s "
                  "source_documentation_reference:s cdm_etl_reference:s source_release_date:d cdm_release_date:d "
                  "cdm_version:s cdm_version_concept_id:i vocabulary_version:s",
}
SCHEMAS = {name: pa.schema([(c.split(":")[0], _TYPES[c.split(":")[1]]) for c in spec.split()])
           for name, spec in TABLES.items()}
INTERVENTION_TABLES = ("drug_exposure", "procedure_occurrence")


# --------------------------------------------------------------------------- mapping

def load_mapping(cfg: Config, path: Path | str = DEFAULT_MAPPING) -> dict:
    """Parse omop.yaml, check it against schemas/omop_mapping.schema.json, then against the
    contracts and every code the config `cfg` makes the generator emit."""
    path = Path(path)
    data = load_checked(path, "omop_mapping.schema.json")
    cross_check(path, data, cfg)
    return data


def emitted(cfg: Config) -> dict[str, set[str]]:
    """Every code the generator can write, by the mapping section that must cover it."""
    enum = lambda contract, column: {v for v in load_contract(contract)["properties"][column]["enum"] if v}  # noqa: E731
    note_types = {spec.get("note_type", name) for name, spec in cfg.notes["note_types"].items()}
    for scenario in cfg.scenarios.values():
        note_types |= {spec.get("note_type", name) for name, spec in scenario.get("note_types", {}).items()}
    return {
        "person.gender": enum("patients", "sex"),
        "visit": enum("encounters", "encounter_type"),
        "discharged_to": enum("encounters", "discharge_disposition"),
        "care_units": set(cfg.generator["care_units"]),
        "conditions": {d["code"] for s in cfg.scenarios.values() for d in s["diagnoses"]},
        "labs": {t["loinc"] for t in cfg.labs["tests"].values()},
        "lab_units": {t["unit"] for t in cfg.labs["tests"].values()},
        "notes.types": note_types | enum("notes", "note_type"),
        "interventions": enum("interventions", "kind"),
    }


def cross_check(path: Path, data: dict, cfg: Config) -> None:
    for where, codes in emitted(cfg).items():
        table = data
        for key in where.split("."):
            table = table[key]
        missing = sorted(codes - set(table))
        if missing:
            raise ConfigError(f"{path}: {where}", "has no concept for codes the generator writes", found=missing,
                              hint="add them (concept_id 0 with src: unmapped if no standard concept is known)")
    _check_vitals(path, data)
    for spot, concept in _concepts(data):
        if concept["src"] not in data["sources"]:
            raise ConfigError(f"{path}: {spot}.src", "names no entry of `sources`", found=concept["src"],
                              hint=f"use one of {', '.join(data['sources'])}")
        if (concept["id"] == 0) != (concept["src"] == "unmapped"):
            raise ConfigError(f"{path}: {spot}", "concept_id 0 goes with src: unmapped, and only it",
                              found={"id": concept["id"], "src": concept["src"]})


def _check_vitals(path: Path, data: dict) -> None:
    vitals = load_contract("vitals")["properties"]
    mapped = [item["column"] for item in data["vitals"]]
    for i, item in enumerate(data["vitals"]):
        col = item["column"]
        if col not in vitals or col in VITAL_KEYS or col in mapped[:i] or col in data["vitals_not_exported"]:
            raise ConfigError(f"{path}: vitals.{i}.column", "is not an unmapped vitals.csv measurement column",
                              found=col)
        if "answers" in item:
            allowed = {v for v in vitals[col].get("enum", []) if v is not None}
            if set(item["answers"]) != allowed:
                raise ConfigError(f"{path}: vitals.{i}.answers", f"does not match the values of vitals {col}",
                                  found=sorted(item["answers"]), hint=f"expected {sorted(allowed)}")
    check_vital_columns(path, "vitals", mapped, data["vitals_not_exported"])


def _concepts(node, where: str = "") -> Iterator[tuple[str, dict]]:
    """Every concept entry ({id, src}) in the mapping, with its key path."""
    if isinstance(node, dict):
        if "id" in node and "src" in node:
            yield where, node
            return
        for key, value in node.items():
            yield from _concepts(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _concepts(value, f"{where}.{i}")


# --------------------------------------------------------------------------- building tables

def cdm_table(name: str, n: int, **columns) -> pa.Table:
    """Table `name` with the given columns (arrays or scalars) and every other column null."""
    arrays = []
    for field in SCHEMAS[name]:
        value = columns.pop(field.name, None)
        if value is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(_cast(value, field, name))
        else:
            arrays.append(pa.array([value] * n, field.type))
    if columns:
        raise ValueError(f"{name} has no columns {sorted(columns)}")
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[name])


def _cast(values, field: pa.Field, table: str):
    try:
        return pc.cast(values, field.type)
    except pa.ArrowInvalid:
        raise ContractError(f"{table}.{field.name}", f"a value does not fit the CDM's {field.type}",
                            hint=f"ids above {INT32_MAX:,} (visits after 2058, or that many rows) cannot be exported"
                            ) from None


def coded(values: pa.Array, table: dict, where: str) -> pa.Array:
    """Each value's concept id from a mapping section (every value was checked to be covered)."""
    keys = list(table)
    index = pc.index_in(values, value_set=pa.array(keys, pa.string()))
    if index.null_count > values.null_count:
        bad = values.filter(pc.and_(pc.is_null(index), pc.is_valid(values)))[0].as_py()
        raise ContractError(where, "value has no OMOP mapping", found=bad, hint=f"add it to {DEFAULT_MAPPING}")
    return pc.take(pa.array([table[k]["id"] for k in keys], pa.int64()), index)


def _source(values: pa.Array) -> pa.Array:
    return pc.utf8_slice_codeunits(values, 0, SOURCE_VALUE_CHARS)


class Numbering:
    """Row ids 1, 2, ... for one table, continued across days."""

    def __init__(self):
        self.next = 1

    def take(self, n: int) -> pa.Array:
        ids = pa.array(range(self.next, self.next + n), pa.int64())
        self.next += n
        return ids


class Export:
    """The state of one export: the mapping, the numberings and the sinks."""

    def __init__(self, mapping: dict, death_disposition: str):
        self.m = mapping
        self.death = death_disposition
        self.ids = {name: Numbering() for name in ("visit_detail", "measurement", "note", *INTERVENTION_TABLES)}

    # ---- small tables (whole range at once)

    def person(self, patients: pa.Table) -> pa.Table:
        dob = patients["date_of_birth"]
        return cdm_table("person", len(patients), person_id=person_ids(patients["patient_id"]),
                         gender_concept_id=coded(patients["sex"], self.m["person"]["gender"], "patients.csv sex"),
                         year_of_birth=pc.year(dob), month_of_birth=pc.month(dob), day_of_birth=pc.day(dob),
                         birth_datetime=pc.cast(dob, pa.timestamp("s")),
                         race_concept_id=self.m["person"]["race"]["id"],
                         ethnicity_concept_id=self.m["person"]["ethnicity"]["id"],
                         person_source_value=patients["patient_id"], gender_source_value=patients["sex"])

    def observation_period(self, visits: pa.Table) -> pa.Table:
        spans = visits.group_by("person_id").aggregate([("visit_start_date", "min"), ("visit_end_date", "max")])
        spans = spans.sort_by("person_id")
        return cdm_table("observation_period", len(spans), observation_period_id=spans["person_id"],
                         person_id=spans["person_id"], observation_period_start_date=spans["visit_start_date_min"],
                         observation_period_end_date=spans["visit_end_date_max"],
                         period_type_concept_id=self.m["types"]["observation_period"]["id"])

    def visits(self, enc: pa.Table) -> pa.Table:
        start, end = local(enc["admit_time"]), local(enc["discharge_time"])
        return cdm_table("visit_occurrence", len(enc), visit_occurrence_id=visit_ids(enc["encounter_id"]),
                         person_id=person_ids(enc["patient_id"]),
                         visit_concept_id=coded(enc["encounter_type"], self.m["visit"],
                                                "encounters.csv encounter_type"),
                         visit_start_date=day_of(start), visit_start_datetime=start,
                         visit_end_date=day_of(end), visit_end_datetime=end,
                         visit_type_concept_id=self.m["types"]["visit"]["id"],
                         visit_source_value=enc["encounter_id"],
                         discharged_to_concept_id=coded(enc["discharge_disposition"], self.m["discharged_to"],
                                                        "encounters.csv discharge_disposition"),
                         discharged_to_source_value=enc["discharge_disposition"])

    def conditions(self, enc: pa.Table) -> pa.Table:
        start, end = local(enc["admit_time"]), local(enc["discharge_time"])
        visit = visit_ids(enc["encounter_id"])
        return cdm_table("condition_occurrence", len(enc), condition_occurrence_id=visit,
                         person_id=person_ids(enc["patient_id"]),
                         condition_concept_id=coded(enc["primary_dx_code"], self.m["conditions"],
                                                    "encounters.csv primary_dx_code"),
                         condition_start_date=day_of(start), condition_start_datetime=start,
                         condition_end_date=day_of(end), condition_end_datetime=end,
                         condition_type_concept_id=self.m["types"]["condition"]["id"],
                         visit_occurrence_id=visit, condition_source_value=enc["primary_dx_code"])

    def deaths(self, enc: pa.Table) -> pa.Table:
        died = enc.filter(pc.equal(enc["discharge_disposition"], self.death))
        when = local(died["discharge_time"])
        return cdm_table("death", len(died), person_id=person_ids(died["patient_id"]),
                         death_date=day_of(when), death_datetime=when,
                         death_type_concept_id=self.m["types"]["death"]["id"],
                         cause_concept_id=coded(died["primary_dx_code"], self.m["conditions"],
                                                "encounters.csv primary_dx_code"),
                         cause_source_value=died["primary_dx_code"])

    def cdm_source(self, end: dt.date) -> pa.Table:
        src = self.m["cdm_source"]
        return cdm_table("cdm_source", 1, cdm_source_name=src["name"], cdm_source_abbreviation=src["abbreviation"],
                         cdm_holder=src["holder"], source_description=src["description"],
                         source_documentation_reference=src["documentation"],
                         cdm_etl_reference=f"clinical-data-generator {__version__} datagen export-omop",
                         source_release_date=end, cdm_release_date=end, cdm_version="5.4",
                         cdm_version_concept_id=src["cdm_version_concept"]["id"],
                         vocabulary_version=src["vocabulary_version"])

    # ---- per-day tables

    def visit_details(self, enc: pa.Table, transfers: pa.Table | None) -> pa.Table:
        """One row per unit stay: the admitting unit until the first transfer, each transfer's
        unit until the next one or discharge."""
        stays = pa.table({"encounter_id": enc["encounter_id"], "patient_id": enc["patient_id"],
                          "unit": enc["care_unit"], "start": enc["admit_time"], "order": pa.array([0] * len(enc))})
        if transfers is not None and len(transfers):
            moved = pa.table({"encounter_id": transfers["encounter_id"], "patient_id": transfers["patient_id"],
                              "unit": transfers["detail"], "start": transfers["start_time"],
                              "order": pa.array([1] * len(transfers))})
            stays = pa.concat_tables([stays, moved])
        ends = pa.table({"encounter_id": enc["encounter_id"], "discharge": enc["discharge_time"]})
        stays = stays.join(ends, "encounter_id").sort_by([("encounter_id", "ascending"), ("start", "ascending"),
                                                          ("order", "ascending"), ("unit", "ascending")])
        s = {name: stays[name].combine_chunks() for name in stays.column_names}
        n = len(stays)
        ids = self.ids["visit_detail"].take(n)
        same_next = pa.concat_arrays([pc.equal(s["encounter_id"][1:], s["encounter_id"][:-1]), pa.array([False])])
        next_start = pa.concat_arrays([s["start"][1:], pa.nulls(1, s["start"].type)])
        end = pc.if_else(same_next, next_start, s["discharge"])
        same_prev = pa.concat_arrays([pa.array([False]), same_next[:-1]])
        prev_id = pc.if_else(same_prev, pa.concat_arrays([pa.nulls(1, pa.int64()), ids[:-1]]),
                             pa.nulls(n, pa.int64()))
        start, end = local(s["start"]), local(end)
        return cdm_table("visit_detail", n, visit_detail_id=ids, person_id=person_ids(s["patient_id"]),
                         visit_detail_concept_id=coded(s["unit"], self.m["care_units"], "care_unit"),
                         visit_detail_start_date=day_of(start), visit_detail_start_datetime=start,
                         visit_detail_end_date=day_of(end), visit_detail_end_datetime=end,
                         visit_detail_type_concept_id=self.m["types"]["visit_detail"]["id"],
                         visit_detail_source_value=s["unit"], preceding_visit_detail_id=prev_id,
                         visit_occurrence_id=visit_ids(s["encounter_id"]))

    def vital_measurements(self, vitals: pa.Table) -> Iterator[pa.Table]:
        when = local(vitals["event_time"])
        person, visit = person_ids(vitals["patient_id"]), visit_ids(vitals["encounter_id"])
        for item in self.m["vitals"]:
            keep = pc.is_valid(vitals[item["column"]])
            values = vitals[item["column"]].filter(keep)
            n = len(values)
            if "answers" in item:
                value = {"value_as_concept_id": coded(values, item["answers"], f"vitals.csv {item['column']}"),
                         "value_source_value": values}
            else:
                number = pc.cast(values, pa.float64())
                if "scale" in item:
                    number = pc.round(pc.multiply(number, item["scale"]), 6)
                value = {"value_as_number": number, "unit_concept_id": item["unit_concept"]["id"],
                         "unit_source_value": item["unit"]}
            t = when.filter(keep)
            yield cdm_table("measurement", n, measurement_id=self.ids["measurement"].take(n),
                            person_id=person.filter(keep), measurement_concept_id=item["concept"]["id"],
                            measurement_date=day_of(t), measurement_datetime=t,
                            measurement_type_concept_id=self.m["types"]["vital"]["id"],
                            visit_occurrence_id=visit.filter(keep), measurement_source_value=item["code"], **value)

    def lab_measurements(self, labs: pa.Table) -> pa.Table:
        when = local(labs["event_time"])
        n = len(labs)
        text = labs["value_text"]
        unit = pc.fill_null(labs["unit"], "")
        return cdm_table("measurement", n, measurement_id=self.ids["measurement"].take(n),
                         person_id=person_ids(labs["patient_id"]),
                         measurement_concept_id=coded(labs["loinc_code"], self.m["labs"], "labs.csv loinc_code"),
                         measurement_date=day_of(when), measurement_datetime=when,
                         measurement_type_concept_id=self.m["types"]["lab"]["id"],
                         value_as_number=labs["value"],
                         value_as_concept_id=pc.if_else(pc.is_valid(text), 0, pa.scalar(None, pa.int64())),
                         unit_concept_id=coded(unit, self.m["lab_units"], "labs.csv unit"),
                         range_low=labs["ref_low"], range_high=labs["ref_high"],
                         visit_occurrence_id=visit_ids(labs["encounter_id"]),
                         measurement_source_value=labs["loinc_code"],
                         unit_source_value=pc.if_else(pc.equal(unit, ""), pa.scalar(None, pa.string()), unit),
                         value_source_value=_source(text))

    def notes(self, notes: pa.Table) -> pa.Table:
        types = self.m["notes"]["types"]
        when = local(notes["note_time"])
        n = len(notes)
        kind = notes["note_type"]
        pick = lambda key: {k: {"id": v[key]["id"]} for k, v in types.items()}  # noqa: E731
        text = lambda key: pc.take(pa.array([v[key] for v in types.values()]),  # noqa: E731
                                   pc.index_in(kind, value_set=pa.array(list(types))))
        return cdm_table("note", n, note_id=self.ids["note"].take(n), person_id=person_ids(notes["patient_id"]),
                         note_date=day_of(when), note_datetime=when,
                         note_type_concept_id=coded(kind, pick("type"), "notes.jsonl note_type"),
                         note_class_concept_id=coded(kind, pick("class"), "notes.jsonl note_type"),
                         note_title=text("title"), note_text=notes["text"],
                         encoding_concept_id=self.m["notes"]["encoding"]["id"],
                         language_concept_id=self.m["notes"]["language"]["id"],
                         visit_occurrence_id=visit_ids(notes["encounter_id"]), note_source_value=text("code"))

    def interventions(self, rows: pa.Table) -> dict[str, pa.Table]:
        kinds = self.m["interventions"]
        out = {}
        for table in INTERVENTION_TABLES:
            names = [k for k, v in kinds.items() if v["table"] == table]
            part = rows.filter(pc.is_in(rows["kind"], value_set=pa.array(names, pa.string())))
            concept = coded(part["kind"], {k: kinds[k]["concept"] for k in names}, "interventions.csv kind")
            start, end = local(part["start_time"]), local(part["end_time"])
            n = len(part)
            common = {"person_id": person_ids(part["patient_id"]),
                      "visit_occurrence_id": visit_ids(part["encounter_id"])}
            if table == "drug_exposure":
                out[table] = cdm_table(table, n, drug_exposure_id=self.ids[table].take(n), drug_concept_id=concept,
                                       drug_exposure_start_date=day_of(start), drug_exposure_start_datetime=start,
                                       drug_exposure_end_date=day_of(end), drug_exposure_end_datetime=end,
                                       drug_type_concept_id=self.m["types"]["drug"]["id"], sig=part["detail"],
                                       drug_source_value=part["kind"], **common)
            else:
                out[table] = cdm_table(table, n, procedure_occurrence_id=self.ids[table].take(n),
                                       procedure_concept_id=concept, procedure_date=day_of(start),
                                       procedure_datetime=start, procedure_end_date=day_of(end),
                                       procedure_end_datetime=end,
                                       procedure_type_concept_id=self.m["types"]["procedure"]["id"],
                                       procedure_source_value=part["kind"], **common)
        return out


# --------------------------------------------------------------------------- writing

class Sinks:
    """One output file per table (CSV or Parquet), appended to day by day."""

    def __init__(self, folder: Path, fmt: str):
        self.folder, self.fmt = folder, fmt
        self.writers: dict[str, object] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            path = self.folder / f"{name}.{self.fmt}"
            self.writers[name] = (pacsv.CSVWriter(path, SCHEMAS[name]) if self.fmt == "csv"
                                  else pq.ParquetWriter(path, SCHEMAS[name], compression="zstd"))
            self.rows[name] = 0
        if len(table):
            self.writers[name].write_table(table)
        self.rows[name] += len(table)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def export_omop(days: list[tuple[dt.date, Path]], out_dir: Path, mapping: dict, cfg: Config,
                fmt: str = "csv") -> dict:
    """Write the days as CDM 5.4 tables in `out_dir` (published whole, with _manifest.json);
    returns that manifest."""
    if fmt not in FORMATS:
        raise UsageError("--format", f"must be one of {', '.join(FORMATS)}", found=fmt)
    if fmt == "duckdb":
        try:
            import duckdb  # noqa: F401
        except ImportError:
            raise UsageError("--format duckdb", "needs the duckdb package",
                             hint="pip install 'clinical-data-generator[research]'") from None

    def write(staging: Path) -> dict:
        files = staging if fmt != "duckdb" else staging / ".tables"
        files.mkdir(exist_ok=True)
        sinks = Sinks(files, "parquet" if fmt == "duckdb" else fmt)
        try:
            rows = _write_days(days, sinks, mapping, cfg)
        finally:
            sinks.close()
        if fmt == "duckdb":
            _to_duckdb(files, staging / "cdm.duckdb", list(sinks.writers))
        return {"export": "omop", "cdm_version": "5.4", "format": fmt, "days": [d.isoformat() for d, _ in days],
                "mapping_sha256": _digest(mapping), "tables": rows}

    return publish_export(out_dir, write)


def _write_days(days, sinks: Sinks, mapping: dict, cfg: Config) -> dict[str, int]:
    ex = Export(mapping, cfg.notes["death_disposition"])
    patients, encounters = range_tables(days)
    enc = pa.concat_tables(encounters)
    visits = ex.visits(enc)
    for name, table in (("person", ex.person(patients)), ("observation_period", ex.observation_period(visits)),
                        ("visit_occurrence", visits), ("condition_occurrence", ex.conditions(enc)),
                        ("death", ex.deaths(enc)), ("cdm_source", ex.cdm_source(days[-1][0]))):
        sinks.write(name, table)
    with_interventions = any("interventions" in day_tables(folder) for _, folder in days)
    for (_, folder), day_enc in zip(days, encounters, strict=True):
        held = day_tables(folder)
        rows = read_table(folder, "interventions") if "interventions" in held else None
        transfers = rows.filter(pc.equal(rows["kind"], "transfer")) if rows is not None else None
        sinks.write("visit_detail", ex.visit_details(day_enc, transfers))
        for table in ex.vital_measurements(read_table(folder, "vitals")):
            sinks.write("measurement", table)
        sinks.write("measurement", ex.lab_measurements(read_table(folder, "labs")))
        sinks.write("note", ex.notes(read_table(folder, "notes")))
        if with_interventions:
            parts = ex.interventions(rows) if rows is not None else {}
            for name in INTERVENTION_TABLES:
                sinks.write(name, parts.get(name, cdm_table(name, 0)))
    return dict(sinks.rows)


def _to_duckdb(parquet_dir: Path, path: Path, tables: list[str]) -> None:
    import duckdb

    try:
        con = duckdb.connect(str(path))
        try:
            for name in tables:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?)",
                            [str(parquet_dir / f"{name}.parquet")])
        finally:
            con.close()
    except duckdb.Error as exc:
        raise OutputError(str(path), "cannot write the DuckDB database", found=str(exc).splitlines()[0]) from None
    for file in parquet_dir.iterdir():
        file.unlink()
    parquet_dir.rmdir()


def _digest(mapping: dict) -> str:
    return hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()
