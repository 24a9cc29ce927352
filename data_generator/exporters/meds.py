"""MEDS (Medical Event Data Standard) export of the published days of a date range.

    export_meds(days, out_dir, settings, omop_mapping, cfg) -> the export's _manifest.json

One event per row: subject_id (the OMOP person_id), time (the hospital's wall clock, µs), code,
numeric_value, text_value. Birth, admission, the care units entered, every charted vital value,
every lab result (at its result time), every note (its text as text_value), treatments,
discharge, the coded diagnosis (at discharge) and death. Codes and their descriptions come from
`config/reference/meds.yaml` and, for vitals, `config/reference/omop.yaml`.

Written: data/<shard>.parquet (each subject in one shard, rows sorted by subject, time, code),
metadata/codes.parquet (every code with its description and OMOP parent concept),
metadata/subject_splits.parquet (train/tuning/held_out by a hash of the subject id, so a subject
keeps its split in every export) and metadata/dataset.json. Same days, same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_generator import __version__
from data_generator.config import Config, load_checked
from data_generator.errors import ConfigError
from data_generator.exporters.research import local, person_ids, publish_export, range_tables
from data_generator.reading import day_tables, read_table

DEFAULT_SETTINGS = Path("config/reference/meds.yaml")
DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
                         ("numeric_value", pa.float32()), ("text_value", pa.large_string())])
CODES_SCHEMA = pa.schema([("code", pa.string()), ("description", pa.string()),
                          ("parent_codes", pa.list_(pa.string()))])
SPLITS_SCHEMA = pa.schema([("subject_id", pa.int64()), ("split", pa.string())])
OMOP_PARENT = "OMOP_CONCEPT_ID/{}"   # parent_codes entry of a code with a known OMOP concept


def load_settings(path: Path | str = DEFAULT_SETTINGS) -> dict:
    path = Path(path)
    data = load_checked(path, "meds_mapping.schema.json")
    if abs(sum(data["splits"].values()) - 1) > 1e-9:
        raise ConfigError(f"{path}: splits", "shares must add up to 1", found=data["splits"])
    return data


def _code(template: str, values: pa.Array) -> pa.Array:
    """'LOINC/{loinc_code}' applied to a whole column."""
    head, _, tail = re.split(r"(\{\w+\})", template, maxsplit=1)
    return pc.binary_join_element_wise(head, pc.cast(values, pa.string()), tail, "")


def _events(subject, time, code, numeric=None, text=None) -> pa.Table:
    n = len(subject)
    code = code if isinstance(code, pa.Array | pa.ChunkedArray) else pa.array([code] * n, pa.string())
    return pa.Table.from_arrays([
        pc.cast(subject, pa.int64()), pc.cast(time, pa.timestamp("us")), pc.cast(code, pa.string()),
        pa.nulls(n, pa.float32()) if numeric is None else pc.cast(numeric, pa.float32()),
        pa.nulls(n, pa.large_string()) if text is None else pc.cast(text, pa.large_string())], schema=DATA_SCHEMA)


class Events:
    """The events of the days, with what codes.parquet says of each code."""

    def __init__(self, settings: dict, mapping: dict, cfg: Config):
        self.s, self.m, self.cfg = settings, mapping, cfg
        self.codes = settings["codes"]
        self.parts: list[pa.Table] = []
        self.described: dict[str, tuple[str, list[str] | None]] = {}

    def describe(self, template_key: str, values, text: str | None = None, concept: dict | None = None) -> None:
        for value in sorted(set(values)):
            code = self.codes[template_key].split("{")[0] + value + self.codes[template_key].split("}")[-1]
            desc = text if text is not None else self.s["descriptions"][template_key].format(value=value)
            self.described[code] = (desc, _parents(concept))

    def stays(self, patients: pa.Table, enc: pa.Table) -> None:
        c, subject = self.codes, person_ids(enc["patient_id"])
        admit, discharge = local(enc["admit_time"]), local(enc["discharge_time"])
        pid = person_ids(patients["patient_id"])
        self.parts += [
            _events(pid, pc.cast(patients["date_of_birth"], pa.timestamp("us")), c["birth"]),
            _events(subject, admit, _code(c["admission"], enc["encounter_type"])),
            _events(subject, admit, _code(c["unit"], enc["care_unit"])),
            _events(subject, discharge, _code(c["discharge"], enc["discharge_disposition"])),
            _events(subject, discharge, _code(c["diagnosis"], enc["primary_dx_code"])),
        ]
        died = pc.equal(enc["discharge_disposition"], self.cfg.notes["death_disposition"])
        self.parts.append(_events(subject.filter(died), discharge.filter(died), c["death"]))
        self.described[c["birth"]] = (self.s["descriptions"]["birth"], None)
        self.described[c["death"]] = (self.s["descriptions"]["death"], None)
        for key, col in (("admission", "encounter_type"), ("unit", "care_unit"),
                         ("discharge", "discharge_disposition")):
            self.describe(key, enc[col].to_pylist())
        for code, desc in zip(enc["primary_dx_code"].to_pylist(), enc["primary_dx_desc"].to_pylist(), strict=True):
            self.describe("diagnosis", [code], text=desc, concept=self.m["conditions"].get(code))

    def day(self, folder: Path) -> None:
        c = self.codes
        vitals = read_table(folder, "vitals")
        when, subject = local(vitals["event_time"]), person_ids(vitals["patient_id"])
        for item in self.m["vitals"]:
            keep = pc.is_valid(vitals[item["column"]])
            values = vitals[item["column"]].filter(keep)
            code = f"{item['vocabulary']}/{item['code']}"
            if "answers" in item:
                numeric, text = None, values
            else:
                numeric = pc.cast(values, pa.float64())
                numeric = pc.round(pc.multiply(numeric, item["scale"]), 6) if "scale" in item else numeric
                text = None
            self.parts.append(_events(subject.filter(keep), when.filter(keep), code, numeric, text))
            self.described[code] = (item["concept"].get("name", item["column"]), _parents(item["concept"]))
        labs = read_table(folder, "labs")
        self.parts.append(_events(person_ids(labs["patient_id"]), local(labs["result_time"]),
                                  _code(c["lab"], labs["loinc_code"]), labs["value"], labs["value_text"]))
        names = {t["loinc"]: t["name"] for t in self.cfg.labs["tests"].values()}
        for loinc in set(labs["loinc_code"].to_pylist()):
            self.describe("lab", [loinc], text=names.get(loinc, loinc), concept=self.m["labs"].get(loinc))
        notes = read_table(folder, "notes")
        self.parts.append(_events(person_ids(notes["patient_id"]), local(notes["note_time"]),
                                  _code(c["note"], notes["note_type"]), text=notes["text"]))
        self.describe("note", notes["note_type"].to_pylist())
        if "interventions" in day_tables(folder):
            rows = read_table(folder, "interventions")
            moved = pc.equal(rows["kind"], "transfer")
            self.parts.append(_events(person_ids(rows["patient_id"]).filter(moved),
                                      local(rows["start_time"]).filter(moved),
                                      _code(c["unit"], rows["detail"].filter(moved))))
            self.describe("unit", rows["detail"].filter(moved).to_pylist())
            given = pc.invert(moved)
            self.parts.append(_events(person_ids(rows["patient_id"]).filter(given),
                                      local(rows["start_time"]).filter(given),
                                      _code(c["intervention"], rows["kind"].filter(given)),
                                      text=rows["detail"].filter(given)))
            self.describe("intervention", rows["kind"].filter(given).to_pylist())

    def table(self) -> pa.Table:
        events = pa.concat_tables(self.parts)
        order = pc.sort_indices(events, sort_keys=[("subject_id", "ascending"), ("time", "ascending"),
                                                   ("code", "ascending")])
        return events.take(order)


def _parents(concept: dict | None) -> list[str] | None:
    return [OMOP_PARENT.format(concept["id"])] if concept and concept["id"] else None


def split_of(subject_ids: list[int], splits: dict[str, float]) -> list[str]:
    """Each subject's split, from the first 8 bytes of SHA-256 of its id as a fraction in [0, 1)."""
    names, bounds, total = list(splits), [], 0.0
    for share in splits.values():
        total += share
        bounds.append(total)
    out = []
    for sid in subject_ids:
        u = int.from_bytes(hashlib.sha256(str(sid).encode()).digest()[:8], "big") / 2**64
        out.append(next((n for n, b in zip(names, bounds, strict=True) if u < b), names[-1]))
    return out


def export_meds(days: list[tuple[dt.date, Path]], out_dir: Path, settings: dict, mapping: dict,
                cfg: Config) -> dict:
    """Write the days as a MEDS dataset in `out_dir` (published whole); returns its manifest."""

    def write(staging: Path) -> dict:
        ev = Events(settings, mapping, cfg)
        patients, encounters = range_tables(days)
        ev.stays(patients, pa.concat_tables(encounters))
        for _, folder in days:
            ev.day(folder)
        events = ev.table()
        subjects = pc.unique(events["subject_id"]).to_pylist()
        (staging / "data").mkdir()
        (staging / "metadata").mkdir()
        size = settings["subjects_per_shard"]
        for shard, lo in enumerate(range(0, len(subjects), size)):
            part = events.filter(pc.is_in(events["subject_id"], pa.array(subjects[lo:lo + size], pa.int64())))
            pq.write_table(part, staging / "data" / f"{shard}.parquet", compression="zstd")
        codes = sorted(set(events["code"].to_pylist()))
        pq.write_table(pa.table({"code": codes, "description": [ev.described[c][0] for c in codes],
                                 "parent_codes": [ev.described[c][1] for c in codes]}, schema=CODES_SCHEMA),
                       staging / "metadata" / "codes.parquet")
        pq.write_table(pa.table({"subject_id": subjects, "split": split_of(subjects, settings["splits"])},
                                schema=SPLITS_SCHEMA), staging / "metadata" / "subject_splits.parquet")
        meta = {"dataset_name": settings["dataset_name"],
                "dataset_version": f"{days[0][0].isoformat()}_{days[-1][0].isoformat()}",
                "etl_name": "clinical-data-generator datagen export-meds", "etl_version": __version__,
                "meds_version": settings["meds_version"], "license": "MIT (synthetic data)"}
        (staging / "metadata" / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return {"export": "meds", "days": [d.isoformat() for d, _ in days], "events": len(events),
                "subjects": len(subjects), "codes": len(codes)}

    return publish_export(out_dir, write)
