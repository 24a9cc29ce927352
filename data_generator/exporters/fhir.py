"""FHIR R4 bulk-data export of a published day: one NDJSON file per resource type.

    export_day(day_folder, out_dir) -> {"Patient": n, "Encounter": n, "Observation": n, ...}

patients.csv -> Patient, encounters.csv -> Encounter, vitals.csv and labs.csv -> Observation
(one per charted vital item, one per lab result), notes.jsonl -> DocumentReference, plus a
bulk-data manifest `export.json`. Every code, display and unit comes from
`config/reference/fhir.yaml`; this module only places them.

Resource ids are the row ids (a vital item adds its suffix: `VIT-20260115-0000001-hr`) and
nothing depends on the wall clock, so the same day always exports to the same bytes.

Vitals and labs can hold millions of rows, so they are read in blocks (by the shared day
reader, data_generator/reading.py, which gives the cells exactly as written) and rendered
column by column: a resource is written once as a JSON *template* whose slots are filled from
whole pyarrow columns (see exporters/ndjson.py). The small tables are turned into dicts row by
row. Input values are checked before they are spliced in (ids, timestamps and numbers by
pattern; free text is JSON-escaped), so a tampered file raises ContractError rather than
writing bad JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_generator.config import load_checked
from data_generator.contracts import file_name, load_contract
from data_generator.errors import ConfigError, ContractError, OutputError
from data_generator.exporters.mapping import VITAL_KEYS, check_vital_columns
from data_generator.exporters.ndjson import M, R, S, Template, lookup, ndjson, optional
from data_generator.publish import MANIFEST as DAY_MANIFEST
from data_generator.reading import read_manifest, text_batches

DEFAULT_MAPPING = Path("config/reference/fhir.yaml")
EXPORT_MANIFEST = "export.json"
RESOURCE_TYPES = ("Patient", "Encounter", "Observation", "DocumentReference")
BLOCK_BYTES = 1 << 20     # CSV bytes read per block (~50 MB of NDJSON): bounds memory for very large days
NOTES_PER_BLOCK = 10_000

# What may be spliced into JSON unescaped (FHIR id, dateTime with offset, decimal).
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,56}$"          # 64 minus room for a vital item suffix
DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"


# --------------------------------------------------------------------------- column checks

class Block:
    """One block of a day file: its columns as pyarrow strings, and where it sits in the file."""

    def __init__(self, file: str, first_row: int, batch: pa.RecordBatch):
        self.file, self.first_row, self.batch = file, first_row, batch

    def __len__(self) -> int:
        return self.batch.num_rows

    def raw(self, column: str) -> pa.Array:
        return self.batch.column(column)

    def checked(self, column: str, pattern: str, required: bool = True) -> pa.Array:
        """The column, after every value matched `pattern` (null allowed unless `required`)."""
        values = self.raw(column)
        ok = pc.fill_null(pc.match_substring_regex(values, pattern), not required)
        if not pc.all(ok).as_py():
            index = int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0])
            self.fail(column, index, "missing value" if values[index].as_py() is None else f"does not match {pattern}",
                      "fix or regenerate the day; `datagen validate` lists every contract violation")
        return values

    def present(self, *names: str) -> None:
        """Fail on the first missing value of any of these columns."""
        for column in names:
            values = self.raw(column)
            if values.null_count:
                self.fail(column, int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0]),
                          "missing value")

    def text(self, column: str, required: bool = True) -> pa.Array:
        """Free text as escaped JSON string content (low-cardinality columns: escaped once each)."""
        if required:
            self.present(column)
        return lookup(self.raw(column), lambda s: json.dumps(s, ensure_ascii=False)[1:-1])

    def coded(self, column: str, table: dict[str, str], required: bool = True) -> pa.Array:
        """Each value replaced by its JSON text in `table` (an unknown value is an error)."""
        self.known(column, table, required)
        return lookup(self.raw(column), table.__getitem__)

    def known(self, column: str, table: dict, required: bool = True) -> None:
        """Fail on the first value that is not a key of `table` (or is missing, if `required`)."""
        values = self.raw(column)
        unknown = pc.invert(pc.is_in(values, value_set=pa.array(list(table), pa.string())))
        bad = unknown if required else pc.and_(unknown, pc.is_valid(values))
        if pc.any(bad).as_py():
            self.fail(column, int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0]),
                      "value has no FHIR mapping", f"add it to {DEFAULT_MAPPING}")

    def fail(self, column: str, index: int, problem: str, hint: str = "") -> None:
        raise ContractError(f"{self.file} row {self.first_row + index} {column}", problem,
                            found=self.raw(column)[index].as_py(), hint=hint)


def scaled(text: str, factor: float | int) -> str:
    """'0.40' x 100 -> '40' (decimal arithmetic, no binary rounding)."""
    value = (Decimal(text) * Decimal(str(factor))).normalize()
    return format(value, "f")


# --------------------------------------------------------------------------- reading a day

def blocks(folder: Path, name: str) -> Iterator[Block]:
    """The day's `name` file as written (CSV, or JSONL for notes) in blocks of string columns
    (empty cell = null), read by the shared day reader with its header or keys checked."""
    try:
        for part in text_batches(folder, name, BLOCK_BYTES, NOTES_PER_BLOCK):
            yield Block(part.file, part.first_row, part.batch)
    except FileNotFoundError:
        raise _missing(Path(folder) / file_name(load_contract(name))) from None


def _missing(path: Path) -> ContractError:
    if path.with_suffix(".parquet").exists():
        return ContractError(str(path), "not found: this day is in Parquet form, which the FHIR export does not read",
                             hint="export a day written as CSV/JSONL")
    return ContractError(str(path), "file not found", hint="export a published day folder")


def batch_date(folder: Path) -> str:
    """The day's date: `batch_date` from its `_manifest.json`, else the folder's name."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if "batch_date" in manifest:
        return str(manifest["batch_date"])
    try:
        return dt.date.fromisoformat(folder.name).isoformat()
    except ValueError:
        raise ContractError(str(folder), "cannot tell the batch date",
                            hint=f"export a published day folder (with {DAY_MANIFEST})") from None


# --------------------------------------------------------------------------- mapping

# Every value a contract allows must have a mapping: (contract, column) -> key path in the YAML.
ENUM_MAPS = {("patients", "sex"): ("patient", "gender"),
             ("encounters", "encounter_type"): ("encounter", "class"),
             ("encounters", "discharge_disposition"): ("encounter", "discharge_disposition"),
             ("labs", "flag"): ("observation", "interpretation"),
             ("notes", "note_type"): ("document", "type")}


def load_mapping(path: Path | str = DEFAULT_MAPPING) -> dict:
    """Parse fhir.yaml, check it against schemas/fhir_mapping.schema.json, then against the contracts."""
    path = Path(path)
    data = load_checked(path, "fhir_mapping.schema.json")
    _cross_check(path, data)
    return data


def _cross_check(path: Path, data: dict) -> None:
    for (contract, column), keys in ENUM_MAPS.items():
        table = data[keys[0]][keys[1]]
        _covers(path, ".".join(keys), table, load_contract(contract)["properties"][column], f"{contract} {column}")
    obs = data["observation"]
    named = [("lab_category", obs["lab_category"]),
             *((f"vitals.{i}.category", item["category"]) for i, item in enumerate(obs["vitals"]))]
    for where, name in named:
        if name not in obs["categories"]:
            raise ConfigError(f"{path}: observation.{where}", "names no category", found=name,
                              hint=f"use one of {', '.join(obs['categories'])}")
    vitals = load_contract("vitals")["properties"]
    seen: dict[str, str] = {}
    for i, item in enumerate(obs["vitals"]):
        where = f"observation.vitals.{i}"
        if item["id"] in {v["id"] for v in obs["vitals"][:i]}:
            raise ConfigError(f"{path}: {where}.id", "repeats an earlier item id", found=item["id"])
        for j, part in enumerate(item.get("components", [item])):
            col = part["column"]
            spot = f"{where}.components.{j}.column" if "components" in item else f"{where}.column"
            if col not in vitals or col in VITAL_KEYS:
                raise ConfigError(f"{path}: {spot}", "is not a vitals.csv measurement column", found=col)
            if col in seen or col in obs["vitals_not_exported"]:
                raise ConfigError(f"{path}: {spot}", "column is already mapped or listed as not exported", found=col)
            seen[col] = spot
        if "answers" in item:
            _covers(path, f"{where}.answers", item["answers"], vitals[item["column"]], f"vitals {item['column']}")
    check_vital_columns(path, "observation.vitals", list(seen), obs["vitals_not_exported"])


def _covers(path: Path, where: str, table: dict, prop: dict, column: str) -> None:
    allowed = [v for v in prop.get("enum", []) if v is not None]
    missing = [v for v in allowed if v not in table]
    extra = [k for k in table if k not in allowed]
    if missing or extra:
        raise ConfigError(f"{path}: {where}", f"does not match the values of {column}",
                          found={"missing": missing, "unknown": extra})


# --------------------------------------------------------------------------- resources

def _ref(kind: str, ident: str) -> dict:
    return {"reference": f"{kind}/{ident}"}


def patients(folder: Path, mapping: dict) -> Iterator[tuple[bytes, int]]:
    cfg = mapping["patient"]
    for block in blocks(folder, "patients"):
        for col, pattern in (("patient_id", ID_PATTERN), ("date_of_birth", DATE_PATTERN)):
            block.checked(col, pattern)
        block.known("sex", cfg["gender"])
        block.present("mrn", "first_name", "last_name", "address", "city", "state", "zip", "phone")
        lines = [_line({
            "resourceType": "Patient", "id": r["patient_id"],
            "identifier": [{"use": "usual", "type": cfg["mrn"]["type"], "system": cfg["mrn"]["system"],
                            "value": r["mrn"]}],
            "name": [{"use": "official", "family": r["last_name"], "given": [r["first_name"]]}],
            "telecom": [{"system": "phone", "value": r["phone"], "use": "home"}],
            "gender": cfg["gender"][r["sex"]], "birthDate": r["date_of_birth"],
            "address": [{"use": "home", "line": [r["address"]], "city": r["city"], "state": r["state"],
                         "postalCode": r["zip"], "country": cfg["country"]}],
        }) for r in block.batch.to_pylist()]
        yield b"".join(lines), len(lines)


def encounters(folder: Path, mapping: dict) -> Iterator[tuple[bytes, int]]:
    cfg = mapping["encounter"]
    for block in blocks(folder, "encounters"):
        for col, pattern in (("encounter_id", ID_PATTERN), ("patient_id", ID_PATTERN),
                             ("admit_time", DATETIME_PATTERN), ("discharge_time", DATETIME_PATTERN)):
            block.checked(col, pattern)
        block.known("encounter_type", cfg["class"])
        block.known("discharge_disposition", cfg["discharge_disposition"])
        block.present("care_unit", "primary_dx_code", "primary_dx_desc")
        lines = []
        for r in block.batch.to_pylist():
            period = {"start": r["admit_time"], "end": r["discharge_time"]}
            lines.append(_line({
                "resourceType": "Encounter", "id": r["encounter_id"], "status": "finished",
                "class": cfg["class"][r["encounter_type"]],
                "type": [{"text": r["encounter_type"]}],
                "subject": _ref("Patient", r["patient_id"]), "period": period,
                "reasonCode": [{"coding": [{"system": cfg["diagnosis_system"], "code": r["primary_dx_code"],
                                            "display": r["primary_dx_desc"]}],
                                "text": r["primary_dx_desc"]}],
                "hospitalization": {"dischargeDisposition": cfg["discharge_disposition"][r["discharge_disposition"]]},
                "location": [{"location": {"display": r["care_unit"]}, "status": "completed", "period": period}],
            }))
        yield b"".join(lines), len(lines)


def documents(folder: Path, mapping: dict) -> Iterator[tuple[bytes, int]]:
    cfg = mapping["document"]
    for block in blocks(folder, "notes"):
        for col, pattern in (("note_id", ID_PATTERN), ("encounter_id", ID_PATTERN), ("patient_id", ID_PATTERN),
                             ("note_time", DATETIME_PATTERN)):
            block.checked(col, pattern)
        block.known("note_type", cfg["type"])
        block.present("author", "text")
        lines = [_line({
            "resourceType": "DocumentReference", "id": r["note_id"], "status": cfg["status"],
            "docStatus": cfg["doc_status"], "type": cfg["type"][r["note_type"]], "category": [cfg["category"]],
            "subject": _ref("Patient", r["patient_id"]), "date": r["note_time"],
            "author": [{"display": r["author"]}],
            "content": [{"attachment": {"contentType": cfg["content_type"],
                                        "data": base64.b64encode(r["text"].encode("utf-8")).decode("ascii")}}],
            "context": {"encounter": [_ref("Encounter", r["encounter_id"])]},
        }) for r in block.batch.to_pylist()]
        yield b"".join(lines), len(lines)


def _line(resource: dict) -> bytes:
    return (json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _observation(category: dict, code: dict, ident: str, time_slot: str, **rest: Any) -> dict:
    return {"resourceType": "Observation", "id": ident, "status": "final", "category": [category], "code": code,
            "subject": {"reference": f"Patient/{S('patient_id')}"},
            "encounter": {"reference": f"Encounter/{S('encounter_id')}"},
            "effectiveDateTime": S(time_slot), **rest}


def _quantity(value_slot: str, unit: str, ucum: str) -> dict:
    return {"value": R(value_slot), "unit": unit, "system": ucum, "code": unit}


class VitalItem:
    """One Observation per vitals row where this item was charted."""

    def __init__(self, spec: dict, mapping: dict):
        obs = mapping["observation"]
        ucum, category = obs["ucum_system"], obs["categories"][spec["category"]]
        self.spec = spec
        ident = f"{S('vital_id')}-{spec['id']}"
        if "components" in spec:
            self.parts = [Template({"code": c["code"], "valueQuantity": _quantity("value", c["unit"], ucum)})
                          for c in spec["components"]]
            rest = {"component": R("components")}
        elif "answers" in spec:
            self.answers = {k: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                            for k, v in spec["answers"].items()}
            rest = {"valueCodeableConcept": R("value")}
        else:
            rest = {"valueQuantity": _quantity("value", spec["unit"], ucum)}
        self.template = Template(_observation(category, spec["code"], ident, "event_time", **rest))

    def lines(self, block: Block, keys: dict[str, pa.Array]) -> pa.Array:
        spec = self.spec
        if "components" in spec:
            parts = [optional(pc.binary_join_element_wise(",", t.render({"value": _number(block, c)}), ""))
                     for t, c in zip(self.parts, spec["components"], strict=True)]
            joined = pc.binary_join_element_wise(*parts, "")      # ',{..},{..}' or '' if none charted
            listed = pc.binary_join_element_wise("[", pc.utf8_slice_codeunits(joined, 1), "]", "")
            slot = pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), listed)
            return self.template.render({**keys, "components": slot})
        if "answers" in spec:
            return self.template.render({**keys, "value": block.coded(spec["column"], self.answers, required=False)})
        return self.template.render({**keys, "value": _number(block, spec)})


def _number(block: Block, spec: dict) -> pa.Array:
    values = block.checked(spec["column"], DECIMAL_PATTERN, required=False)
    if "scale" in spec:
        values = lookup(values, lambda s: scaled(s, spec["scale"]))
    return values


def observations(folder: Path, mapping: dict) -> Iterator[tuple[bytes, int]]:
    items = [VitalItem(spec, mapping) for spec in mapping["observation"]["vitals"]]
    for block in blocks(folder, "vitals"):
        keys = {"vital_id": block.checked("vital_id", ID_PATTERN),
                "patient_id": block.checked("patient_id", ID_PATTERN),
                "encounter_id": block.checked("encounter_id", ID_PATTERN),
                "event_time": block.checked("event_time", DATETIME_PATTERN)}
        per_item = [pc.binary_join_element_wise(item.lines(block, keys), "\n", "") for item in items]
        count = sum(len(lines) - lines.null_count for lines in per_item)
        yield ndjson(pc.binary_join_element_wise(*[optional(lines) for lines in per_item], "")), count
    lab = LabTemplates(mapping)
    for block in blocks(folder, "labs"):
        lines = lab.lines(block)
        yield ndjson(lines), len(lines)


class LabTemplates:
    """One Observation per labs row: quantity or text value, reference range, interpretation."""

    def __init__(self, mapping: dict):
        obs = mapping["observation"]
        ucum = obs["ucum_system"]
        self.interpretation = {k: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                               for k, v in obs["interpretation"].items()}
        self.unit = Template({"unit": S("unit"), "system": ucum, "code": S("unit")}, members=True)
        self.quantity = Template({"valueQuantity": {"value": R("value"), **M("unit")}}, members=True)
        self.text = Template({"valueCodeableConcept": {"text": S("value_text")}}, members=True)
        self.low = Template({"low": {"value": R("ref_low"), **M("unit")}}, members=True)
        self.high = Template({"high": {"value": R("ref_high"), **M("unit")}}, members=True)
        code = {"coding": [{"system": obs["lab_code_system"], "code": S("loinc_code")}], "text": S("test_name")}
        self.observation = Template(_observation(
            obs["categories"][obs["lab_category"]], code, S("lab_id"), "event_time",
            issued=S("result_time"), **M("result"), interpretation=[R("interpretation")], **M("range")))

    def lines(self, block: Block) -> pa.Array:
        slots = {"lab_id": block.checked("lab_id", ID_PATTERN),
                 "patient_id": block.checked("patient_id", ID_PATTERN),
                 "encounter_id": block.checked("encounter_id", ID_PATTERN),
                 "event_time": block.checked("event_time", DATETIME_PATTERN),
                 "result_time": block.checked("result_time", DATETIME_PATTERN),
                 "loinc_code": block.text("loinc_code"), "test_name": block.text("test_name"),
                 "value": block.checked("value", DECIMAL_PATTERN, required=False),
                 "value_text": block.text("value_text", required=False),
                 "ref_low": block.checked("ref_low", DECIMAL_PATTERN, required=False),
                 "ref_high": block.checked("ref_high", DECIMAL_PATTERN, required=False),
                 "interpretation": block.coded("flag", self.interpretation)}
        slots["unit"] = optional(self.unit.render({"unit": block.text("unit", required=False)}))
        result = pc.coalesce(self.quantity.render(slots), self.text.render(slots))
        if result.null_count:
            block.fail("value", int(np.flatnonzero(result.is_null().to_numpy(zero_copy_only=False))[0]),
                       "neither value nor value_text")
        bounds = pc.binary_join_element_wise(optional(self.low.render(slots)), optional(self.high.render(slots)), "")
        ranges = pc.binary_join_element_wise(',"referenceRange":[{', pc.utf8_slice_codeunits(bounds, 1), "}]", "")
        slots["result"] = result
        slots["range"] = pc.if_else(pc.equal(bounds, ""), "", ranges)
        return pc.binary_join_element_wise(self.observation.render(slots), "\n", "")


# --------------------------------------------------------------------------- the export

PRODUCERS = {"Patient": patients, "Encounter": encounters, "Observation": observations,
             "DocumentReference": documents}


def export_day(folder: Path, out_dir: Path, mapping_path: Path | str = DEFAULT_MAPPING) -> dict[str, int]:
    """Write `folder`'s day as FHIR R4 NDJSON (one file per resource type) plus export.json.

    Files are written beside their final names and renamed into place, export.json last, so
    a reader that starts from export.json never sees a half-written file. Returns the number
    of resources per type.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    if out_dir.resolve().is_relative_to(folder.resolve()):
        raise OutputError(str(out_dir), "is inside the day folder, which holds only its contracted files",
                          hint="export beside it, e.g. <out-root>/<mode>/<date>.fhir/")
    mapping = load_mapping(mapping_path)
    date = batch_date(folder)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(str(out_dir), "cannot create the export folder", found=exc.strerror) from None
    counts = {kind: _write(out_dir / f"{kind}.ndjson", PRODUCERS[kind](folder, mapping))
              for kind in RESOURCE_TYPES}
    manifest = {
        "transactionTime": f"{date}T00:00:00Z",
        "request": f"urn:datagen:export-fhir:{date}",
        "requiresAccessToken": False,
        "output": [{"type": kind, "url": f"{kind}.ndjson", "count": counts[kind]} for kind in RESOURCE_TYPES],
        "error": [],
    }
    _write(out_dir / EXPORT_MANIFEST, iter([((json.dumps(manifest, indent=2) + "\n").encode(), 0)]))
    return counts


def _write(path: Path, chunks: Iterator[tuple[bytes, int]]) -> int:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with open(tmp, "wb") as out:
            for data, n in chunks:
                out.write(data)
                count += n
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(str(path), "cannot write", found=exc.strerror) from None
    finally:
        tmp.unlink(missing_ok=True)
    return count
